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

{{/*
The volume items of the API-key Secret: the chart-made Secret's one entry, or the
listed apiKeys.secretKeys of an existing Secret. Empty: every entry is mounted.
*/}}
{{- define "streak-connector.apiKeyItems" -}}
{{- if .Values.apiKeys.existingSecret }}
{{- range .Values.apiKeys.secretKeys }}
- key: {{ . | quote }}
  path: {{ . | quote }}
{{- end }}
{{- else }}
{{- if .Values.apiKeys.secretKeys }}
{{- fail "streak-connector: apiKeys.secretKeys selects entries of apiKeys.existingSecret; the chart-made Secret (apiKeys.keys) has one entry and needs none" }}
{{- end }}
- key: api-keys
  path: api-keys
{{- end }}
{{- end }}

{{/* The Secret with the admin token, or nothing when the admin listener is off. */}}
{{- define "streak-connector.adminTokenSecretName" -}}
{{- if .Values.adminToken.existingSecret }}
{{- .Values.adminToken.existingSecret }}
{{- else if .Values.adminToken.value }}
{{- printf "%s-admin-token" (include "streak-connector.fullname" .) }}
{{- end }}
{{- end }}

{{/* The admin listener's address (--admin-listen): loopback unless exposed on the Service. */}}
{{- define "streak-connector.adminListen" -}}
{{- printf "%s:%d" (ternary "0.0.0.0" "127.0.0.1" .Values.admin.exposeOnService) (int .Values.admin.port) }}
{{- end }}

{{/*
Whole seconds of a duration as the connector reads them, for the forms the chart
understands: one or more <number><unit>, units ms, s, m, h, d ("90s", "1h30m").
Milliseconds round up. Call with (dict "name" "config.x" "value" "5m").
*/}}
{{- define "streak-connector.seconds" -}}
{{- $text := .value | toString | nospace }}
{{- $parts := regexFindAll "[0-9]+(ms|s|m|h|d)" $text -1 }}
{{- if or (not $parts) (ne (join "" $parts) $text) }}
{{- fail (printf "streak-connector: %s %q: the chart reads durations such as 90s, 5m, 1h30m (units ms, s, m, h, d)" .name (.value | toString)) }}
{{- end }}
{{- $ms := 0 }}
{{- range $parts }}
{{- $n := regexFind "^[0-9]+" . | atoi }}
{{- $unit := regexReplaceAll "^[0-9]+" . "" }}
{{- $ms = add $ms (mul $n (get (dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000) $unit)) }}
{{- end }}
{{- div (add $ms 999) 1000 }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the value when set, else the transaction timeout plus
terminationGraceMarginSeconds (docs/operations.md, "Stopping").
*/}}
{{- define "streak-connector.gracePeriod" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add (include "streak-connector.seconds" (dict "name" "config.transactionTimeout" "value" .Values.config.transactionTimeout) | atoi) (int .Values.terminationGraceMarginSeconds) }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
Seconds without a successful poll before StreakConnectorPollsStale starts pending:
three poll intervals (two missed polls with their jitter), at least 15 minutes.
*/}}
{{- define "streak-connector.staleAfterSeconds" -}}
{{- max 900 (mul 3 (include "streak-connector.seconds" (dict "name" "config.pollInterval" "value" .Values.config.pollInterval) | atoi)) }}
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
{{- $_ := include "streak-connector.seconds" (dict "name" "config.pollInterval" "value" .Values.config.pollInterval) }}
inactive_after = {{ .Values.config.inactiveAfter | toJson }}
{{- with .Values.config.schemaRegistryUrl }}
schema_registry_url = {{ . | toJson }}
{{- end }}
metrics_listen = {{ printf "0.0.0.0:%d" (int .Values.service.port) | toJson }}
log_format = {{ .Values.config.logFormat | toJson }}
{{- with .Values.config.extraToml }}
{{- if regexMatch "(?m)^\\s*\\[\\s*kafka\\s*\\]" . }}
{{- fail "streak-connector: config.extraToml opens a [kafka] table, which the chart writes itself: use config.transactionTimeout and config.kafkaSettings" }}
{{- end }}

# config.extraToml
{{ . }}
{{- end }}

[kafka]
transaction_timeout = {{ .Values.config.transactionTimeout | toString | toJson }}
{{- $_ := include "streak-connector.seconds" (dict "name" "config.transactionTimeout" "value" .Values.config.transactionTimeout) }}
{{- range $k, $v := .Values.config.kafkaSettings }}
{{- if eq $k "transaction_timeout" }}
{{- fail "streak-connector: set the transaction timeout with config.transactionTimeout, not config.kafkaSettings" }}
{{- end }}
{{ $k | toJson }} = {{ $v | toJson }}
{{- end }}
{{- with .Values.config.kafkaProperties }}

[kafka.properties]
{{- range $k, $v := . }}
{{ $k | toJson }} = {{ $v | toJson }}
{{- end }}
{{- end }}
{{- end }}
