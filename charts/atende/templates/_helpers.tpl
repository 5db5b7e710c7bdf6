{{- define "atende.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "atende.labels" -}}
app.kubernetes.io/name: atende
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "atende.selector" -}}
app.kubernetes.io/name: atende
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "atende.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "atende.secretName" -}}
{{ .Values.existingSecret | default (printf "%s-secrets" (include "atende.fullname" .)) }}
{{- end -}}

{{/* Settings and secrets as environment, the same for every process. */}}
{{- define "atende.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "atende.fullname" . }}-config
env:
  - name: ATENDE_DATABASE_URL
    valueFrom: {secretKeyRef: {name: {{ include "atende.secretName" . }}, key: ATENDE_DATABASE_URL}}
  - name: ATENDE_REDIS_URL
    valueFrom: {secretKeyRef: {name: {{ include "atende.secretName" . }}, key: ATENDE_REDIS_URL}}
  - name: ATENDE_SECRET_KEY
    valueFrom: {secretKeyRef: {name: {{ include "atende.secretName" . }}, key: ATENDE_SECRET_KEY}}
  - name: ATENDE_GEMINI_API_KEY
    valueFrom: {secretKeyRef: {name: {{ include "atende.secretName" . }}, key: ATENDE_GEMINI_API_KEY, optional: true}}
  - name: ATENDE_CACHE_REDIS_URL
    valueFrom: {secretKeyRef: {name: {{ include "atende.secretName" . }}, key: ATENDE_CACHE_REDIS_URL, optional: true}}
{{- end -}}

{{/* Rollouts follow config changes: the pods carry the hash of what they read. */}}
{{- define "atende.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/config.yaml") . | sha256sum }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{- define "atende.podSecurity" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{- define "atende.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end -}}

{{/*
Whether the cluster serves an optional API ("group/version/Kind"), so resources of CRDs that are
not installed (KEDA, prometheus-operator) are left out instead of failing the install. A render
without a cluster (helm template, GitOps) can say the API is there through values.assumeApis.
Usage: include "atende.hasApi" (dict "root" $ "api" "keda.sh/v1alpha1/ScaledObject")
*/}}
{{- define "atende.hasApi" -}}
{{- if or (.root.Capabilities.APIVersions.Has .api) (has .api .root.Values.assumeApis) -}}true{{- end -}}
{{- end -}}
