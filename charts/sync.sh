#!/usr/bin/env bash
# Re-copies into the chart what it takes from the rest of the repository: the CRDs (identical to
# crds/) and the operator's RBAC rules (from operator/src/rbac/permissions.ts). Unit tests fail
# until this has been run after either source changes.
set -euo pipefail
cd "$(dirname "$0")/.."
chart=charts/servingstack-operator
rm -f "$chart"/crds/*.yaml
cp crds/*.yaml "$chart/crds/"
node charts/rbac-rules.ts >"$chart/files/rbac-rules.yaml.tmp"
mv "$chart/files/rbac-rules.yaml.tmp" "$chart/files/rbac-rules.yaml"
npx --no-install prettier --log-level warn --write "$chart/files/rbac-rules.yaml"
echo "chart synced: $(ls "$chart"/crds | tr '\n' ' ')+ files/rbac-rules.yaml"
