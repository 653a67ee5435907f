{{/* Chart name. */}}
{{- define "token-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, unless the release name already contains the chart name. */}}
{{- define "token-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "token-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Recommended labels (app.kubernetes.io/*) on every object. */}}
{{- define "token-operator.labels" -}}
helm.sh/chart: {{ include "token-operator.chart" . }}
{{ include "token-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: token-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "token-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "token-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "token-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "token-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "token-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{- define "token-operator.leaseName" -}}
{{- default (include "token-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "token-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The rules the operator needs in every namespace it watches. Mirrors the calls in src/
(test/integration/rbac.test.ts keeps this list honest in both directions).
*/}}
{{- define "token-operator.rules" -}}
- apiGroups: ["token-operator.io"]
  resources: ["deltasharetokens", "accesstokens", "datatokens"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["token-operator.io"]
  resources: ["deltasharetokens/status", "accesstokens/status", "datatokens/status"]
  verbs: ["patch"]
# Secrets are written with an owner reference that blocks owner deletion; clusters with the
# OwnerReferencesPermissionEnforcement admission plugin require update on <kind>/finalizers.
- apiGroups: ["token-operator.io"]
  resources: ["deltasharetokens/finalizers", "accesstokens/finalizers", "datatokens/finalizers"]
  verbs: ["update"]
# Only Secrets labelled app.kubernetes.io/managed-by=token-operator are listed and watched;
# get reads the input Secrets a resource references in its own namespace; update replaces the
# operator's own state Secret (token-operator-state-<uid>) on each rotation.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.rolloutRestart.enabled }}
# restart = merge-patch of a pod-template annotation, after a get that checks the pod template
# uses the Secret; list only to find Reloader-annotated workloads
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["get", {{ if .Values.rolloutRestart.actAsReloader }}"list", {{ end }}"patch"]
{{- end }}
{{- end }}
