# ServingStack — every target is a thin wrapper; the work lives in scripts/ and e2e/cluster/.
# The project brings its own Node.js 24 (scripts/ensure-node.sh); everything below runs on it.

NODE_VERSION ?= 24.22.3
export SERVINGSTACK_CACHE ?= $(HOME)/.cache/servingstack
# The sbin directories last, whatever the caller's PATH (su without -, some CI runners): ensure.sh
# counts debootstrap and chroot as installed there, so the scripts must find them there too.
export PATH := $(SERVINGSTACK_CACHE)/node-v$(NODE_VERSION)/bin:$(CURDIR)/.cluster/bin:$(PATH):/usr/local/sbin:/usr/sbin:/sbin
export NODE_VERSION
# onnxruntime must not phone home (1.29+ does by default) nor download CUDA binaries here.
export ORT_DISABLE_TELEMETRY := 1
export ONNXRUNTIME_NODE_INSTALL ?= skip
export KUBECONFIG := $(CURDIR)/.cluster/kubeconfig
export NODE_OPTIONS := --experimental-vm-modules --no-warnings=ExperimentalWarning

.DEFAULT_GOAL := help
.PHONY: help system node install typecheck lint unit e2e test cluster-up cluster-down tools helm demo down serve images bench

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

system: ## install the Debian packages the project needs (scripts/system/packages.txt) when missing
	@scripts/system/ensure.sh

node: system ## fetch the pinned Node.js and npm into the cache (once)
	@scripts/ensure-node.sh >/dev/null

install: node ## npm ci (reproducible, from the lockfile)
	@scripts/install.sh

typecheck: install ## tsc --noEmit over every workspace
	npm run --silent typecheck

lint: install ## eslint + prettier --check
	npm run --silent lint

unit: install helm ## unit tests (no cluster; the chart-render ones run the helm that `make helm` builds)
	npm run --silent test:unit

e2e: install cluster-up images ## e2e tests on the local cluster (started if not running; images rebuilt from the tree, cached by layer)
	npm run --silent test:e2e

test: install typecheck lint unit e2e ## everything a contributor must pass; CI runs this

tools: system ## build the cluster's binaries (etcd, Kubernetes, helm) from Go modules, cached by version
	@e2e/cluster/build-tools.sh

helm: system ## build helm alone (a few minutes, once), which the unit tests render the chart with
	@e2e/cluster/build-tools.sh helm

cluster-up: tools ## start the local control plane; kubeconfig in .cluster/kubeconfig
	@e2e/cluster/up.sh

cluster-down: ## stop exactly what cluster-up started
	@e2e/cluster/down.sh

demo: install cluster-up ## the main job: cluster, CRD, operator, a sample stack, and what it made
	@scripts/demo.sh

down: ## stop everything demo started (operator, cluster)
	@scripts/down.sh

serve: install ## the inference server alone on 127.0.0.1:8080 (MODEL_DIR, MODEL_NAME, POOL, PRECISION, PORT)
	@scripts/serve.sh

images: system ## build the server (CPU and CUDA) and operator images with podman; CUDA_IMAGE=0 leaves the CUDA one out
	@scripts/images.sh

bench: install ## benchmarks; JSON in bench/results/, summary in docs/benchmarks.md
	@scripts/bench.sh
