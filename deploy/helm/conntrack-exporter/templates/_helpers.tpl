{{/*
Names, labels, the security context of each securityMode, the container environment and the
checks that refuse inconsistent values. Everything else in templates/ only assembles these.
*/}}

{{- define "conntrack-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "conntrack-exporter.fullname" -}}
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

{{- define "conntrack-exporter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "conntrack-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: immutable in a DaemonSet, so never anything that changes on upgrade. */}}
{{- define "conntrack-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "conntrack-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Built as a map, so that commonLabels can never produce a duplicate key; ours win. */}}
{{- define "conntrack-exporter.labels" -}}
{{- $labels := dict
  "helm.sh/chart" (include "conntrack-exporter.chart" .)
  "app.kubernetes.io/name" (include "conntrack-exporter.name" .)
  "app.kubernetes.io/instance" .Release.Name
  "app.kubernetes.io/version" .Chart.AppVersion
  "app.kubernetes.io/component" "exporter"
  "app.kubernetes.io/managed-by" .Release.Service -}}
{{- toYaml (merge $labels (deepCopy .Values.commonLabels)) -}}
{{- end -}}

{{/*
The chart labels plus extra ones from values (a map), merged so that a key never appears twice;
the chart's own labels win, so the selector labels cannot be overridden.
Usage: include "conntrack-exporter.labelsWith" (list $ .Values.service.labels)
*/}}
{{- define "conntrack-exporter.labelsWith" -}}
{{- $root := index . 0 -}}
{{- $labels := include "conntrack-exporter.labels" $root | fromYaml -}}
{{- range (slice . 1) }}{{ $labels = merge $labels (deepCopy (default dict .)) }}{{ end -}}
{{- toYaml $labels -}}
{{- end -}}

{{- define "conntrack-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "conntrack-exporter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "conntrack-exporter.image" -}}
{{- $repo := .Values.image.repository -}}
{{- with .Values.image.registry }}{{ $repo = printf "%s/%s" . $repo }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* prometheus-operator objects render only where the cluster serves their API. */}}
{{- define "conntrack-exporter.hasMonitoringAPI" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end -}}
{{- end -}}

{{/*
HTTPS and authentication (values.web): whether a web configuration file is mounted, the Secrets
it comes from, the file itself, and what the kubelet's probes and the monitors need.
*/}}
{{- define "conntrack-exporter.webConfigPath" -}}/etc/conntrack-exporter/web/web-config.yml{{- end -}}

{{- define "conntrack-exporter.webEnabled" -}}
{{- $w := .Values.web -}}
{{- if or $w.existingSecret $w.tls.enabled $w.basicAuth.users $w.headers }}true{{ end -}}
{{- end -}}

{{- define "conntrack-exporter.webSecretName" -}}
{{- default (printf "%s-web-config" (include "conntrack-exporter.fullname" .)) .Values.web.existingSecret -}}
{{- end -}}

{{- define "conntrack-exporter.tlsSecretName" -}}
{{- if .Values.web.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "conntrack-exporter.fullname" .) -}}
{{- else -}}
{{- .Values.web.tls.secretName -}}
{{- end -}}
{{- end -}}

{{- define "conntrack-exporter.tlsDNSNames" -}}
{{- $name := include "conntrack-exporter.fullname" . -}}
{{- $ns := include "conntrack-exporter.namespace" . -}}
{{- $default := list (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc.cluster.local" $name $ns) -}}
{{- toJson (default $default .Values.web.tls.certManager.dnsNames) -}}
{{- end -}}

{{/* A client certificate is required, so a kubelet probe cannot complete the TLS handshake. */}}
{{- define "conntrack-exporter.clientCertRequired" -}}
{{- $t := .Values.web.tls -}}
{{- if and $t.enabled (has $t.clientAuthType (list "RequireAnyClientCert" "RequireAndVerifyClientCert")) }}true{{ end -}}
{{- end -}}

{{/* The web configuration file the chart writes (exporter-toolkit's format). */}}
{{- define "conntrack-exporter.webConfig" -}}
{{- $w := .Values.web -}}
{{- $file := dict -}}
{{- if $w.tls.enabled -}}
{{- $tls := dict "cert_file" "/etc/conntrack-exporter/tls/tls.crt" "key_file" "/etc/conntrack-exporter/tls/tls.key" "min_version" $w.tls.minVersion "client_auth_type" $w.tls.clientAuthType -}}
{{- if $w.tls.clientCASecret.name -}}
{{- $_ := set $tls "client_ca_file" "/etc/conntrack-exporter/client-ca/ca.crt" -}}
{{- end -}}
{{- $_ := set $file "tls_server_config" $tls -}}
{{- end -}}
{{- with $w.headers -}}
{{- $_ := set $file "http_server_config" (dict "headers" .) -}}
{{- end -}}
{{- with $w.basicAuth.users -}}
{{- $_ := set $file "basic_auth_users" . -}}
{{- end -}}
{{- toYaml $file -}}
{{- end -}}

{{/* The endpoint fields of a ServiceMonitor/PodMonitor: scheme, tlsConfig, basicAuth. */}}
{{- define "conntrack-exporter.scrapeAuth" -}}
{{- $w := .Values.web -}}
scheme: {{ ternary "https" "http" $w.tls.enabled }}
{{- if $w.tls.enabled }}
tlsConfig:
  {{- if $w.scrape.tlsConfig }}
  {{- toYaml $w.scrape.tlsConfig | nindent 2 }}
  {{- else }}
  ca:
    secret:
      name: {{ include "conntrack-exporter.tlsSecretName" . }}
      key: ca.crt
  serverName: {{ first (include "conntrack-exporter.tlsDNSNames" . | fromJsonArray) }}
  {{- end }}
{{- end }}
{{- with $w.scrape.basicAuth }}
basicAuth:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Liveness and readiness: GET /healthz (HTTPS with TLS), or a TCP probe under mutual TLS. */}}
{{- define "conntrack-exporter.probeHandler" -}}
{{- if include "conntrack-exporter.clientCertRequired" . -}}
tcpSocket:
  port: metrics
{{- else -}}
httpGet:
  path: /healthz
  port: metrics
  {{- if .Values.web.tls.enabled }}
  scheme: HTTPS
  {{- end }}
{{- end -}}
{{- end -}}

{{/* Collectors and source, defaulted per securityMode. */}}
{{- define "conntrack-exporter.collectors" -}}
{{- $list := list -}}
{{- if .Values.config.collectors -}}
{{- $list = .Values.config.collectors -}}
{{- else if eq .Values.securityMode "unprivileged" -}}
{{- $list = list "table" "cpu_stats" "expect_stats" "sysctl" -}}
{{- else -}}
{{- $list = list "table" "cpu_stats" "expect_stats" "sysctl" "flows" -}}
{{- end -}}
{{- if and .Values.perNamespace.enabled (not (has "netns" $list)) -}}
{{- $list = append $list "netns" -}}
{{- end -}}
{{- if and .Values.events.enabled (not (has "events" $list)) -}}
{{- $list = append $list "events" -}}
{{- end -}}
{{- if and (has "events" $list) (not .Values.events.enabled) -}}
{{- fail "config.collectors lists events: set events.enabled=true instead" -}}
{{- end -}}
{{- if and (has "events" $list) (eq .Values.securityMode "unprivileged") -}}
{{- fail "events.enabled needs ctnetlink (CAP_NET_ADMIN as UID 0), which securityMode=unprivileged does not grant: use securityMode=netlink" -}}
{{- end -}}
{{- if and (has "netns" $list) (not .Values.perNamespace.enabled) -}}
{{- fail "config.collectors lists netns: set perNamespace.enabled=true instead, which also gives the pod the host PID namespace the collector needs" -}}
{{- end -}}
{{- join "," $list -}}
{{- end -}}

{{- define "conntrack-exporter.source" -}}
{{- if .Values.config.source -}}
{{- .Values.config.source -}}
{{- else if eq .Values.securityMode "unprivileged" -}}
procfs
{{- else -}}
auto
{{- end -}}
{{- end -}}

{{/*
Security contexts. netlink: ctnetlink needs CAP_NET_ADMIN on every request, and an added
capability is only effective for UID 0, so UID 0 with every other capability dropped.
*/}}
{{- define "conntrack-exporter.podSecurityContext" -}}
{{- $ctx := dict "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- if eq .Values.securityMode "unprivileged" -}}
{{- $_ := merge $ctx (dict "runAsNonRoot" true "runAsUser" 65532 "runAsGroup" 65532) -}}
{{- else -}}
{{- $_ := merge $ctx (dict "runAsNonRoot" false "runAsUser" 0 "runAsGroup" 0) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $ctx (deepCopy .Values.podSecurityContext)) -}}
{{- end -}}

{{- define "conntrack-exporter.containerSecurityContext" -}}
{{- $ctx := dict "readOnlyRootFilesystem" true "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- if eq .Values.securityMode "netlink" -}}
{{- $_ := merge $ctx (dict "runAsNonRoot" false "runAsUser" 0 "runAsGroup" 0 "privileged" false "allowPrivilegeEscalation" false "capabilities" (dict "drop" (list "ALL") "add" (list "NET_ADMIN"))) -}}
{{- else if eq .Values.securityMode "unprivileged" -}}
{{- $_ := merge $ctx (dict "runAsNonRoot" true "runAsUser" 65532 "runAsGroup" 65532 "privileged" false "allowPrivilegeEscalation" false "capabilities" (dict "drop" (list "ALL"))) -}}
{{- else -}}
{{/* The API refuses allowPrivilegeEscalation=false together with privileged=true. */}}
{{- $_ := merge $ctx (dict "runAsNonRoot" false "runAsUser" 0 "runAsGroup" 0 "privileged" true "allowPrivilegeEscalation" true) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $ctx (deepCopy .Values.containerSecurityContext)) -}}
{{- end -}}

{{/* "k=v,k2=v2" with keys and values percent-encoded, as OTEL_*_HEADERS and OTEL_RESOURCE_ATTRIBUTES expect. */}}
{{- define "conntrack-exporter.pctEncode" -}}
{{- . | toString | replace "%" "%25" | replace "," "%2C" | replace "=" "%3D" | replace " " "%20" | replace ";" "%3B" -}}
{{- end -}}

{{- define "conntrack-exporter.keyValues" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" (include "conntrack-exporter.pctEncode" $k) (include "conntrack-exporter.pctEncode" $v)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The container environment the chart manages (extraEnv is appended after it). */}}
{{- define "conntrack-exporter.env" -}}
{{- $c := .Values.config -}}
{{- $o := .Values.otlp -}}
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_HOST_IP
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
- name: CONNTRACK_EXPORTER_LISTEN_ADDRESS
  value: {{ printf "%s:%d" (ternary "$(K8S_HOST_IP)" $c.listenHost $c.listenOnHostIP) (int64 $c.port) | quote }}
{{- if include "conntrack-exporter.webEnabled" . }}
- name: CONNTRACK_EXPORTER_WEB_CONFIG_FILE
  value: {{ include "conntrack-exporter.webConfigPath" . | quote }}
{{- end }}
- name: CONNTRACK_EXPORTER_METRICS_PATH
  value: {{ $c.metricsPath | quote }}
- name: CONNTRACK_EXPORTER_HTTP_MAX_CONNECTIONS
  value: {{ $c.http.maxConnections | int64 | toString | quote }}
- name: CONNTRACK_EXPORTER_HTTP_HEADER_TIMEOUT_SECONDS
  value: {{ $c.http.headerTimeoutSeconds | toString | quote }}
- name: CONNTRACK_EXPORTER_HTTP_IDLE_TIMEOUT_SECONDS
  value: {{ $c.http.idleTimeoutSeconds | toString | quote }}
{{- if $c.webConfigFile }}
- name: CONNTRACK_EXPORTER_WEB_CONFIG_FILE
  value: {{ $c.webConfigFile | quote }}
{{- end }}
- name: CONNTRACK_EXPORTER_LOG_LEVEL
  value: {{ $c.logLevel | quote }}
- name: CONNTRACK_EXPORTER_COLLECTORS
  value: {{ include "conntrack-exporter.collectors" . | quote }}
- name: CONNTRACK_EXPORTER_SOURCE
  value: {{ include "conntrack-exporter.source" . | quote }}
- name: CONNTRACK_EXPORTER_PROC_PATH
  value: {{ $c.procPath | quote }}
- name: CONNTRACK_EXPORTER_NETLINK_TIMEOUT_SECONDS
  value: {{ $c.netlinkTimeoutSeconds | toString | quote }}
- name: CONNTRACK_EXPORTER_SHUTDOWN_TIMEOUT_SECONDS
  value: {{ $c.shutdownTimeoutSeconds | toString | quote }}
- name: CONNTRACK_EXPORTER_RELEASE_FILE_PAGES_AFTER_SECONDS
  value: {{ $c.releaseFilePagesAfterSeconds | toString | quote }}
- name: CONNTRACK_EXPORTER_FLOW_INTERVAL_SECONDS
  value: {{ $c.flows.intervalSeconds | toString | quote }}
- name: CONNTRACK_EXPORTER_FLOW_MAX_FLOWS_PER_PASS
  value: {{ $c.flows.maxFlowsPerPass | int64 | toString | quote }}
- name: CONNTRACK_EXPORTER_FLOW_SERIES_BUDGET
  value: {{ $c.flows.seriesBudget | int64 | toString | quote }}
- name: CONNTRACK_EXPORTER_FLOW_TOP_K
  value: {{ $c.flows.topK | int64 | toString | quote }}
- name: CONNTRACK_EXPORTER_FLOW_SKIP_ABOVE_USAGE
  value: {{ $c.flows.skipAboveUsage | toString | quote }}
- name: CONNTRACK_EXPORTER_FLOW_ENABLE_ACCOUNTING
  value: {{ $c.flows.enableAccounting | toString | quote }}
- name: CONNTRACK_EXPORTER_FLOW_ADDRESSES
  value: {{ $c.flows.addresses | quote }}
- name: CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV4
  value: {{ $c.flows.addressPrefixIPv4 | int64 | toString | quote }}
- name: CONNTRACK_EXPORTER_FLOW_ADDRESS_PREFIX_IPV6
  value: {{ $c.flows.addressPrefixIPv6 | int64 | toString | quote }}
{{- /* Pod attribution comes with the per-namespace collector, which brings hostPID (docs/pods.md). */}}
- name: CONNTRACK_EXPORTER_FLOW_POD_ATTRIBUTION
  value: {{ .Values.perNamespace.enabled | toString | quote }}
- name: CONNTRACK_EXPORTER_EVENTS_POD_ATTRIBUTION
  value: {{ .Values.perNamespace.enabled | toString | quote }}
- name: CONNTRACK_EXPORTER_EVENTS_RECEIVE_BUFFER_BYTES
  value: {{ $c.events.receiveBufferBytes | int64 | toString | quote }}
- name: CONNTRACK_EXPORTER_EVENTS_PORTS
  value: {{ join "," $c.events.ports | quote }}
- name: OTEL_METRICS_EXPORTER
  value: {{ ternary (ternary "otlp,prometheus" "otlp" $o.keepPrometheusEndpoint) "prometheus" $o.enabled | quote }}
{{- if $o.enabled }}
{{- with $o.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $o.metricsEndpoint }}
- name: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $o.protocol | quote }}
{{- with $o.metricsProtocol }}
- name: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- if $o.headersSecret.name }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ $o.headersSecret.name | quote }}
      key: {{ required "otlp.headersSecret.key is required with otlp.headersSecret.name" $o.headersSecret.key | quote }}
{{- else if $o.headers }}
- name: OTEL_EXPORTER_OTLP_HEADERS
  value: {{ include "conntrack-exporter.keyValues" $o.headers | quote }}
{{- end }}
{{- if $o.metricsHeadersSecret.name }}
- name: OTEL_EXPORTER_OTLP_METRICS_HEADERS
  valueFrom:
    secretKeyRef:
      name: {{ $o.metricsHeadersSecret.name | quote }}
      key: {{ required "otlp.metricsHeadersSecret.key is required with otlp.metricsHeadersSecret.name" $o.metricsHeadersSecret.key | quote }}
{{- else if $o.metricsHeaders }}
- name: OTEL_EXPORTER_OTLP_METRICS_HEADERS
  value: {{ include "conntrack-exporter.keyValues" $o.metricsHeaders | quote }}
{{- end }}
- name: OTEL_EXPORTER_OTLP_COMPRESSION
  value: {{ $o.compression | quote }}
{{- with $o.metricsCompression }}
- name: OTEL_EXPORTER_OTLP_METRICS_COMPRESSION
  value: {{ . | quote }}
{{- end }}
- name: OTEL_EXPORTER_OTLP_TIMEOUT
  value: {{ $o.timeoutMs | int64 | toString | quote }}
{{- if $o.metricsTimeoutMs }}
- name: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT
  value: {{ $o.metricsTimeoutMs | int64 | toString | quote }}
{{- end }}
- name: OTEL_METRIC_EXPORT_INTERVAL
  value: {{ $o.exportIntervalMs | int64 | toString | quote }}
- name: OTEL_METRIC_EXPORT_TIMEOUT
  value: {{ $o.exportTimeoutMs | int64 | toString | quote }}
- name: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE
  value: {{ $o.temporalityPreference | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ $o.serviceName | quote }}
{{- with $o.resourceAttributes }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ include "conntrack-exporter.keyValues" . | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Fails the render, before anything is applied, on values that cannot work together. */}}
{{- define "conntrack-exporter.validate" -}}
{{- $v := .Values -}}
{{- if and $v.config.flows.enableAccounting (ne $v.securityMode "privileged") -}}
{{- fail "config.flows.enableAccounting writes the nf_conntrack_acct and nf_conntrack_timestamp sysctls, which needs a writable /proc/sys: set securityMode=privileged as well, or leave accounting off (docs/deploy.md)" -}}
{{- end -}}
{{- if and (eq $v.securityMode "unprivileged") (eq $v.config.source "netlink") -}}
{{- fail "config.source=netlink needs CAP_NET_ADMIN as UID 0, which securityMode=unprivileged does not grant: use source auto or procfs, or securityMode=netlink" -}}
{{- end -}}
{{- if regexMatch "^(127\\.|\\[::1\\]$|localhost$)" $v.config.listenHost -}}
{{- fail "config.listenHost must not be a loopback address: kubelet probes and Prometheus connect to the node IP" -}}
{{- end -}}
{{- if and $v.config.listenOnHostIP $v.config.listenHost -}}
{{- fail "set config.listenOnHostIP or config.listenHost, not both" -}}
{{- end -}}
{{- $w := $v.web -}}
{{- $monitored := or $v.serviceMonitor.enabled $v.podMonitor.enabled -}}
{{- if and $w.tls.enabled (not $w.tls.secretName) (not $w.tls.certManager.enabled) -}}
{{- fail "web.tls.enabled needs web.tls.secretName (a kubernetes.io/tls Secret) or web.tls.certManager.enabled" -}}
{{- end -}}
{{- if and $w.tls.secretName $w.tls.certManager.enabled -}}
{{- fail "set web.tls.secretName or web.tls.certManager.enabled, not both (cert-manager writes its own Secret)" -}}
{{- end -}}
{{- if and $w.tls.certManager.enabled (not $w.tls.enabled) -}}
{{- fail "web.tls.certManager.enabled needs web.tls.enabled" -}}
{{- end -}}
{{- if and $w.tls.certManager.enabled (not $w.tls.certManager.issuerRef.name) -}}
{{- fail "web.tls.certManager.enabled needs web.tls.certManager.issuerRef.name (the Issuer or ClusterIssuer that signs the certificate)" -}}
{{- end -}}
{{- if and (ne $w.tls.clientAuthType "NoClientCert") (not $w.tls.enabled) -}}
{{- fail (printf "web.tls.clientAuthType %s needs web.tls.enabled" $w.tls.clientAuthType) -}}
{{- end -}}
{{- if and (has $w.tls.clientAuthType (list "VerifyClientCertIfGiven" "RequireAndVerifyClientCert")) (not $w.tls.clientCASecret.name) -}}
{{- fail (printf "web.tls.clientAuthType %s verifies client certificates: set web.tls.clientCASecret.name (the CA that signs them)" $w.tls.clientAuthType) -}}
{{- end -}}
{{- if and $w.tls.clientCASecret.name (not $w.tls.enabled) -}}
{{- fail "web.tls.clientCASecret needs web.tls.enabled" -}}
{{- end -}}
{{- if and $w.existingSecret (or $w.basicAuth.users $w.headers) -}}
{{- fail "web.existingSecret is the whole web configuration file: put basic_auth_users and headers there, not in web.basicAuth.users / web.headers" -}}
{{- end -}}
{{- if and $monitored $w.basicAuth.users (not $w.scrape.basicAuth) -}}
{{- fail "web.basicAuth.users is set, so Prometheus needs a password: set web.scrape.basicAuth (username and password Secret keys)" -}}
{{- end -}}
{{- if and $monitored (include "conntrack-exporter.clientCertRequired" .) (not (and $w.scrape.tlsConfig.cert $w.scrape.tlsConfig.keySecret)) -}}
{{- fail (printf "web.tls.clientAuthType %s requires a client certificate: set web.scrape.tlsConfig with cert and keySecret for Prometheus" $w.tls.clientAuthType) -}}
{{- end -}}
{{- if and (not $w.tls.enabled) (or $w.scrape.tlsConfig $w.scrape.basicAuth) (not $w.existingSecret) (not $w.basicAuth.users) -}}
{{- fail "web.scrape sets credentials, but the exporter asks for none: enable web.tls or web.basicAuth.users" -}}
{{- end -}}
{{- if and $v.serviceMonitor.enabled $v.podMonitor.enabled -}}
{{- fail "enable serviceMonitor or podMonitor, not both: every node would be scraped twice" -}}
{{- end -}}
{{- if and $v.serviceMonitor.enabled (not $v.service.enabled) -}}
{{- fail "serviceMonitor.enabled needs service.enabled (or use podMonitor instead)" -}}
{{- end -}}
{{- if and $v.otlp.enabled (not $v.otlp.endpoint) (not $v.otlp.metricsEndpoint) -}}
{{- fail "otlp.enabled needs otlp.endpoint or otlp.metricsEndpoint" -}}
{{- end -}}
{{- if and $v.otlp.headers $v.otlp.headersSecret.name -}}
{{- fail "set otlp.headers or otlp.headersSecret, not both" -}}
{{- end -}}
{{- if and $v.otlp.metricsHeaders $v.otlp.metricsHeadersSecret.name -}}
{{- fail "set otlp.metricsHeaders or otlp.metricsHeadersSecret, not both" -}}
{{- end -}}
{{- if and $v.otlp.enabled (not $v.otlp.keepPrometheusEndpoint) (or $v.serviceMonitor.enabled $v.podMonitor.enabled) -}}
{{- fail "otlp.keepPrometheusEndpoint=false turns /metrics off: disable serviceMonitor and podMonitor too" -}}
{{- end -}}
{{- if le (int64 $v.terminationGracePeriodSeconds) (int64 (ceil $v.config.shutdownTimeoutSeconds)) -}}
{{- fail "terminationGracePeriodSeconds must exceed config.shutdownTimeoutSeconds, or the kubelet kills the exporter before its final OTLP export" -}}
{{- end -}}
{{- $managed := list -}}
{{- range (include "conntrack-exporter.env" . | fromYamlArray) -}}
{{- $managed = append $managed .name -}}
{{- end -}}
{{- range $v.extraEnv -}}
{{- if has .name $managed -}}
{{- fail (printf "extraEnv sets %s, which the chart already sets: use the matching value under config or otlp instead" .name) -}}
{{- end -}}
{{- end -}}
{{- $params := include "conntrack-exporter.ruleParameters" . | fromJsonArray -}}
{{- $known := list -}}
{{- range $params }}{{ $known = append $known .name }}{{ end -}}
{{- range $name, $_ := $v.prometheusRule.parameters -}}
{{- if not (has $name $known) -}}
{{- fail (printf "prometheusRule.parameters.%s is not a rule parameter; known: %s" $name (join ", " $known)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The rule parameters (a JSON array of {name, token, default, description}). */}}
{{- define "conntrack-exporter.ruleParameters" -}}
{{- $json := .Files.Get "files/prometheus/parameters.json" -}}
{{- if not $json -}}
{{- fail "files/prometheus/parameters.json is missing from the chart: run npm run chart:sync" -}}
{{- end -}}
{{- $json -}}
{{- end -}}

{{/*
The rules file with every parameter token replaced by the user's value (or its default) as plain
text, so that with defaults the PrometheusRule spec is the file, byte for byte.
*/}}
{{- define "conntrack-exporter.rulesText" -}}
{{- $text := .Files.Get "files/prometheus/conntrack.rules.yaml" -}}
{{- if not $text -}}
{{- fail "files/prometheus/conntrack.rules.yaml is missing from the chart: run npm run chart:sync" -}}
{{- end -}}
{{- $overrides := .Values.prometheusRule.parameters -}}
{{- range (include "conntrack-exporter.ruleParameters" . | fromJsonArray) -}}
{{- $value := .default -}}
{{- if hasKey $overrides .name }}{{ $value = index $overrides .name }}{{ end -}}
{{- $text = replace .token (toString $value) $text -}}
{{- end -}}
{{- $text -}}
{{- end -}}
