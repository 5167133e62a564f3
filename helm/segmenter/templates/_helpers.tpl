{{/*
Names, labels, paths and the rendering of segmenter.toml. Everything a template needs twice
lives here.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "segmenter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: fullnameOverride, else release name + chart name (once). */}}
{{- define "segmenter.fullname" -}}
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

{{- define "segmenter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that never change over a release's life: the selectors. */}}
{{- define "segmenter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "segmenter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The standard labels of every object. */}}
{{- define "segmenter.labels" -}}
helm.sh/chart: {{ include "segmenter.chart" . }}
{{ include "segmenter.selectorLabels" . }}
app.kubernetes.io/version: {{ include "segmenter.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: segmenter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "segmenter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "segmenter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "segmenter.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "segmenter.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "segmenter.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{/* Where things are mounted in the container. */}}
{{- define "segmenter.configDir" -}}/etc/segmenter/config{{- end -}}
{{- define "segmenter.keysDir" -}}/etc/segmenter/keys{{- end -}}
{{- define "segmenter.tlsDir" -}}/etc/segmenter/tls{{- end -}}

{{/* The Secret the chart creates (database URL and/or keys.toml). */}}
{{- define "segmenter.secretName" -}}
{{- include "segmenter.fullname" . -}}
{{- end -}}

{{/* "true" when the chart's own Secret carries the database URL. */}}
{{- define "segmenter.inlineDatabaseUrl" -}}
{{- if and (not .Values.database.existingSecret) .Values.database.url -}}true{{- end -}}
{{- end -}}

{{/* "true" when the chart's own Secret carries keys.toml. */}}
{{- define "segmenter.inlineKeys" -}}
{{- if and (not .Values.auth.existingSecret) .Values.auth.keys -}}true{{- end -}}
{{- end -}}

{{/* "true" when a keys.toml is mounted (from the chart's Secret or an existing one). */}}
{{- define "segmenter.keysEnabled" -}}
{{- if or .Values.auth.existingSecret (include "segmenter.inlineKeys" .) -}}true{{- end -}}
{{- end -}}

{{/* "true" when the chart creates a Secret at all. */}}
{{- define "segmenter.createSecret" -}}
{{- if or (include "segmenter.inlineDatabaseUrl" .) (include "segmenter.inlineKeys" .) -}}true{{- end -}}
{{- end -}}

{{/* "true" when the database URL is given inline and is SQLite. */}}
{{- define "segmenter.inlineSqlite" -}}
{{- if and (include "segmenter.inlineDatabaseUrl" .) (hasPrefix "sqlite:" (.Values.database.url | trim | lower)) -}}true{{- end -}}
{{- end -}}

{{/* "true" when more than one pod may run at once. */}}
{{- define "segmenter.multiplePods" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{/* The server's shutdown grace (config.shutdown_grace_seconds, 20 when unset). */}}
{{- define "segmenter.shutdownGrace" -}}
{{- $grace := 20 -}}
{{- if and (hasKey .Values.config "shutdown_grace_seconds") (not (kindIs "invalid" .Values.config.shutdown_grace_seconds)) -}}
{{- $grace = int .Values.config.shutdown_grace_seconds -}}
{{- end -}}
{{- $grace -}}
{{- end -}}

{{/* terminationGracePeriodSeconds: given, else the shutdown grace + 10 s. */}}
{{- define "segmenter.terminationGrace" -}}
{{- $grace := include "segmenter.shutdownGrace" . | int -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $grace 10 -}}
{{- else -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/*
Refuses values that would deploy something broken, each with what to change. Included by the
Deployment so that every render and lint runs it.
*/}}
{{- define "segmenter.validate" -}}
{{- if and (include "segmenter.multiplePods" .) (include "segmenter.inlineSqlite" .) -}}
{{- fail (printf "database.url is a SQLite URL (%s), but more than one pod would run (autoscaling.enabled=%v, replicaCount=%v). SQLite is an embedded single-process database: use a postgres:// URL (database.url or database.existingSecret), or set autoscaling.enabled=false and replicaCount=1 (with persistence.enabled=true)." (.Values.database.url | trim) .Values.autoscaling.enabled .Values.replicaCount) -}}
{{- end -}}
{{- if and (not .Values.database.existingSecret) (not .Values.database.url) -}}
{{- fail "database: set database.url (postgres://user:password@host:5432/db) or database.existingSecret (a Secret with the URL under database.existingSecretKey)." -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.enabled=true needs tls.secretName: a kubernetes.io/tls Secret with tls.crt and tls.key." -}}
{{- end -}}
{{- if and .Values.tls.clientAuth.enabled (not .Values.tls.enabled) -}}
{{- fail "tls.clientAuth.enabled=true (mutual TLS) needs tls.enabled=true and tls.secretName." -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail (printf "autoscaling.minReplicas (%v) is above autoscaling.maxReplicas (%v)." .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas) -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (not (dig "requests" "cpu" "" .Values.resources)) -}}
{{- fail "autoscaling.enabled=true needs resources.requests.cpu: the CPU target is a share of the request." -}}
{{- end -}}
{{- $grace := include "segmenter.shutdownGrace" . | int -}}
{{- $termination := include "segmenter.terminationGrace" . | int -}}
{{- if le $termination $grace -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above config.shutdown_grace_seconds (%d), or the kubelet kills calls still finishing." $termination $grace) -}}
{{- end -}}
{{- if .Values.podDisruptionBudget.enabled -}}
{{- if and (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) -}}
{{- fail "podDisruptionBudget: give minAvailable or maxUnavailable, not both (set the other to null)." -}}
{{- end -}}
{{- if and (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable) -}}
{{- fail "podDisruptionBudget.enabled=true needs minAvailable or maxUnavailable." -}}
{{- end -}}
{{- end -}}
{{- range $key := list "listen" "database_url" "rules_file" "auth" "tls" "metrics" -}}
{{- if hasKey $.Values.config $key -}}
{{- fail (printf "config.%s is set by the chart; use the chart's values instead (ports, database, rules, auth, tls, metrics)." $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The configuration table: values.config with the keys the chart owns set over it. Returned as
JSON (a template can only return text); callers use fromJson.
*/}}
{{- define "segmenter.configTable" -}}
{{- $config := deepCopy (.Values.config | default dict) -}}
{{- $_ := set $config "listen" (printf "0.0.0.0:%d" (int .Values.ports.grpc)) -}}
{{- $_ := set $config "shutdown_grace_seconds" (include "segmenter.shutdownGrace" . | int) -}}
{{- if .Values.rules -}}
{{- $_ := set $config "rules_file" (printf "%s/rules.toml" (include "segmenter.configDir" .)) -}}
{{- end -}}
{{- $metricsListen := "" -}}
{{- if .Values.metrics.enabled -}}
{{- $metricsListen = printf "0.0.0.0:%d" (int .Values.ports.metrics) -}}
{{- end -}}
{{- $_ := set $config "metrics" (dict "listen" $metricsListen) -}}
{{- $auth := dict "enabled" .Values.auth.enabled "rate_limit_per_second" (int .Values.auth.rateLimitPerSecond) "rate_limit_burst" (int .Values.auth.rateLimitBurst) -}}
{{- if include "segmenter.keysEnabled" . -}}
{{- $_ := set $auth "keys_file" (printf "%s/keys.toml" (include "segmenter.keysDir" .)) -}}
{{- end -}}
{{- $_ := set $config "auth" $auth -}}
{{- if .Values.tls.enabled -}}
{{- $dir := include "segmenter.tlsDir" . -}}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" $dir) "key_file" (printf "%s/tls.key" $dir) -}}
{{- if .Values.tls.clientAuth.enabled -}}
{{- $_ := set $tls "client_ca_file" (printf "%s/ca.crt" $dir) -}}
{{- end -}}
{{- $_ := set $config "tls" $tls -}}
{{- end -}}
{{- toJson $config -}}
{{- end -}}

{{/* A TOML key: bare when it can be, else quoted. */}}
{{- define "segmenter.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}{{ . }}{{- else -}}{{ toJson . }}{{- end -}}
{{- end -}}

{{/*
A TOML value. Values arrive as JSON types, so whole numbers are float64 and are written as
integers (the server's integer keys refuse 20.0). A JSON string is a valid TOML basic string.
*/}}
{{- define "segmenter.toml.value" -}}
{{- $v := . -}}
{{- if kindIs "string" $v -}}
{{- toJson $v -}}
{{- else if kindIs "bool" $v -}}
{{- ternary "true" "false" $v -}}
{{- else if or (kindIs "float64" $v) (kindIs "float32" $v) -}}
{{- if eq (float64 (int64 $v)) (float64 $v) -}}{{ int64 $v }}{{- else -}}{{ $v }}{{- end -}}
{{- else if or (kindIs "int" $v) (kindIs "int64" $v) (kindIs "int32" $v) (kindIs "uint64" $v) -}}
{{- $v -}}
{{- else if kindIs "slice" $v -}}
[{{ range $i, $e := $v }}{{ if $i }}, {{ end }}{{ include "segmenter.toml.value" $e }}{{ end }}]
{{- else -}}
{{- fail (printf "config: cannot write %v (a %s) as a TOML value" $v (kindOf $v)) -}}
{{- end -}}
{{- end -}}

{{/*
A TOML table: (dict "table" MAP "prefix" DOTTED-NAME). Scalars first, then sub-tables as
[prefix.name] sections; null values are left out (so `null` in values unsets a key).
*/}}
{{- define "segmenter.toml.table" -}}
{{- $table := .table -}}
{{- $prefix := .prefix -}}
{{- range $key := keys $table | sortAlpha -}}
{{- $v := index $table $key -}}
{{- if not (or (kindIs "map" $v) (kindIs "invalid" $v)) }}
{{ include "segmenter.toml.key" $key }} = {{ include "segmenter.toml.value" $v }}
{{- end -}}
{{- end -}}
{{- range $key := keys $table | sortAlpha -}}
{{- $v := index $table $key -}}
{{- if kindIs "map" $v -}}
{{- $name := include "segmenter.toml.key" $key -}}
{{- if $prefix -}}{{- $name = printf "%s.%s" $prefix $name -}}{{- end }}

[{{ $name }}]
{{- include "segmenter.toml.table" (dict "table" $v "prefix" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* segmenter.toml as mounted in the pods. */}}
{{- define "segmenter.configToml" -}}
# segmenter.toml, rendered by the segmenter Helm chart from its values ("config" and the
# chart's own settings). The database URL comes from SEGMENTER__DATABASE_URL (a Secret).
{{- include "segmenter.toml.table" (dict "table" (include "segmenter.configTable" . | fromJson) "prefix" "") }}
{{ end -}}

{{/* keys.toml: one [[keys]] table per entry of auth.keys. */}}
{{- define "segmenter.keysToml" -}}
# API keys installed at start (auth.keys_file), rendered by the segmenter Helm chart.
{{- range $i, $entry := .Values.auth.keys }}

[[keys]]
name = {{ toJson (required (printf "auth.keys[%d].name is required" $i) $entry.name) }}
scopes = {{ include "segmenter.toml.value" (required (printf "auth.keys[%d].scopes is required" $i) $entry.scopes) }}
key = {{ toJson (required (printf "auth.keys[%d].key is required" $i) $entry.key) }}
{{- end }}
{{ end -}}

{{/*
A probe's action, (dict "root" $ "service" NAME): a gRPC health check (grpc.health.v1) of
NAME ("" = the whole server), or a TCP connect when TLS is on (kubelet gRPC probes cannot speak
TLS). The port is a number: gRPC probes take no port names.
*/}}
{{- define "segmenter.probeAction" -}}
{{- $values := .root.Values -}}
{{- if $values.tls.enabled -}}
tcpSocket:
  port: {{ int $values.ports.grpc }}
{{- else -}}
grpc:
  port: {{ int $values.ports.grpc }}
  {{- with .service }}
  service: {{ . | quote }}
  {{- end }}
{{- end -}}
{{- end -}}
