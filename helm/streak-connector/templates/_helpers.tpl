{{/*
Names, labels and the small computations the templates share.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "streak-connector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full resource name: fullnameOverride, else release-name (without repeating the chart name). */}}
{{- define "streak-connector.fullname" -}}
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

{{/* chart-version for the helm.sh/chart label. */}}
{{- define "streak-connector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "streak-connector.labels" -}}
helm.sh/chart: {{ include "streak-connector.chart" . }}
{{ include "streak-connector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: connector
{{- end }}

{{/* Labels that select the pod. */}}
{{- define "streak-connector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "streak-connector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount's name. */}}
{{- define "streak-connector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "streak-connector.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with the API keys: the existing one, else the chart's; fails without keys. */}}
{{- define "streak-connector.apiKeysSecretName" -}}
{{- if .Values.apiKeys.existingSecret }}
{{- .Values.apiKeys.existingSecret }}
{{- else if .Values.apiKeys.keys }}
{{- printf "%s-api-keys" (include "streak-connector.fullname" .) }}
{{- else }}
{{- fail "streak-connector: set apiKeys.existingSecret (recommended) or apiKeys.keys: the connector needs one Streak API key per organization" }}
{{- end }}
{{- end }}

{{/* The Secret with the admin token, or nothing when the admin endpoint is off. */}}
{{- define "streak-connector.adminTokenSecretName" -}}
{{- if .Values.adminToken.existingSecret }}
{{- .Values.adminToken.existingSecret }}
{{- else if .Values.adminToken.value }}
{{- printf "%s-admin-token" (include "streak-connector.fullname" .) }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "streak-connector.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The connector's config.toml. */}}
{{- define "streak-connector.configToml" -}}
# Rendered by the streak-connector Helm chart from its values (config.*).
streak_base_url = {{ .Values.config.streakBaseUrl | toJson }}
api_key_file = "/etc/streak-connector/keys"
kafka_bootstrap_servers = {{ required "streak-connector: set config.kafkaBootstrapServers" .Values.config.kafkaBootstrapServers | toJson }}
events_topic = {{ .Values.config.eventsTopic | toJson }}
state_topic = {{ .Values.config.stateTopic | toJson }}
connector_name = {{ .Values.config.connectorName | toJson }}
poll_interval = {{ .Values.config.pollInterval | toJson }}
inactive_after = {{ .Values.config.inactiveAfter | toJson }}
{{- with .Values.config.schemaRegistryUrl }}
schema_registry_url = {{ . | toJson }}
{{- end }}
metrics_listen = {{ printf "0.0.0.0:%d" (int .Values.service.port) | toJson }}
log_format = {{ .Values.config.logFormat | toJson }}
{{- with .Values.config.extraToml }}

# config.extraToml
{{ . }}
{{- end }}
{{- with .Values.config.kafkaProperties }}

[kafka.properties]
{{- range $k, $v := . }}
{{ $k | toJson }} = {{ $v | toJson }}
{{- end }}
{{- end }}
{{- end }}
