{{/* The chart name, cut to 63 characters (a label value). */}}
{{- define "servingstack-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object name. When the release name already holds the chart name it is used
alone, so `helm install servingstack-operator .` does not make "servingstack-operator-servingstack-operator".
*/}}
{{- define "servingstack-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* name-version, as the helm.sh/chart label wants it. */}}
{{- define "servingstack-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels that select the operator pods; never change them between releases (selectors are immutable). */}}
{{- define "servingstack-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "servingstack-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object the chart makes. */}}
{{- define "servingstack-operator.labels" -}}
helm.sh/chart: {{ include "servingstack-operator.chart" . }}
{{ include "servingstack-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: servingstack
{{- end -}}

{{- define "servingstack-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "servingstack-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "servingstack-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (default .Chart.AppVersion .Values.image.tag)) -}}
{{- end -}}

{{/*
The operator's RBAC rules, read from files/rbac-rules.yaml (generated from operator/src/rbac/permissions.ts
by charts/sync.sh; a unit test keeps them in step). Call with (dict "root" $ "key" "watched").
*/}}
{{- define "servingstack-operator.rules" -}}
{{- $all := .root.Files.Get "files/rbac-rules.yaml" | fromYaml -}}
{{- $rules := index $all .key -}}
{{- if not (kindIs "slice" $rules) -}}
{{- fail (printf "files/rbac-rules.yaml has no %q list: run charts/sync.sh" .key) -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}
