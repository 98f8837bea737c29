#!/usr/bin/env bash
# Deploys the adit server to Google Cloud Run.
#
#   PROJECT=my-project REGION=europe-west1 deploy/cloud-run.sh
#   DRY_RUN=1 deploy/cloud-run.sh            # print the gcloud commands only
#
# Everything is configured through environment variables (see docs/cloud-run.md):
#
#   PROJECT            GCP project (default: gcloud's configured project)
#   REGION             Cloud Run / Artifact Registry region (default us-central1)
#   SERVICE            service name (default adit); cluster layout uses
#                      SERVICE-pub and SERVICE-ws
#   LAYOUT             single (default) | cluster (needs Redis)
#   IMAGE              image to deploy; default built from this checkout with
#                      Cloud Build into Artifact Registry repo REPOSITORY (adit)
#   BUILD              cloudbuild (default) | none (IMAGE is already pushed)
#   CONCURRENCY        requests (WebSockets included) per instance (1000)
#   TIMEOUT            request timeout in seconds (3600, the maximum): it cuts
#                      every WebSocket; the server is told (ADIT_SERVICE_TIMEOUT)
#                      and agents replace their connections at half of it
#   MIN_INSTANCES      1: one instance always on, agents never find it cold
#   MAX_INSTANCES      default 1 without Redis (state is in memory), 10 with
#   CPU, MEMORY        per instance (1, 512Mi)
#   SERVICE_ACCOUNT    runtime service account (default: the project's
#                      default compute account); gets secretAccessor
#   SIGNING_KEY_SECRET Secret Manager secret for ADIT_SIGNING_KEY (adit-signing-key)
#   API_KEYS_SECRET    Secret Manager secret for ADIT_API_KEYS (adit-api-keys)
#   CREATE_SECRETS     1 (default): create missing secrets with random values
#   PUBLIC_BASE_URL    set it for a custom domain; otherwise the service URL
#   PUBLIC_HOST_SUFFIX wildcard host routing ({id}.SUFFIX), see docs
#   INGRESS            all (default) | internal-and-cloud-load-balancing (only
#                      through your load balancer, see docs)
#   LARGE_UPLOADS      1: public request bodies above 32 MiB. Cloud Run caps
#                      HTTP/1 bodies at 32 MiB and end-to-end HTTP/2 refuses
#                      WebSocket upgrades, so this means LAYOUT=cluster with
#                      PUB_USE_HTTP2=1 (needs Redis). 0 (default): one HTTP/1 service
#   PUB_USE_HTTP2      cluster layout: 1 = end-to-end HTTP/2 (h2c) on SERVICE-pub,
#                      no 32 MiB request body cap; sets ADIT_H2C=true (the server
#                      then takes h2c and HTTP/1.1 on one port). 0 (default): HTTP/1.1
#   REDIS_INSTANCE     Memorystore for Redis instance name: its address, AUTH
#                      string and TLS server CA are read and stored as secrets
#   REDIS_URL          or a Redis URL directly (stored as a secret, never printed)
#   REDIS_CA_FILE      PEM file of the CA for a rediss:// REDIS_URL
#   NETWORK, SUBNET    Direct VPC egress to reach Redis (default: default, default)
#   DRY_RUN            1: print every gcloud command instead of running it
set -euo pipefail

# Dry-run lines go to fd 3 (the script's stdout) so that they are printed even
# from inside $(...) captures.
exec 3>&1

DRY_RUN=${DRY_RUN:-0}

die() {
  printf 'cloud-run.sh: %s\n' "$*" >&2
  exit 2
}

is_dry() { [[ "$DRY_RUN" == 1 ]]; }

# shell_quote ARG: ARG as a shell word, quoted only when it needs to be, so
# dry-run output can be read and pasted.
shell_quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:=,@%+^-]+$ ]]; then printf '%s' "$1"
  else printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

print_cmd() {
  local line='+'
  local arg
  for arg in "$@"; do line+=" $(shell_quote "$arg")"; done
  printf '%s\n' "$line" >&3
}

# run CMD...: run, or print in dry-run mode.
run() {
  if is_dry; then print_cmd "$@"; return 0; fi
  "$@"
}

# run_secret_stdin VALUE CMD...: CMD reads a secret on stdin. The value is
# never printed, not even in dry-run mode.
run_secret_stdin() {
  local value=$1; shift
  if is_dry; then
    local line='+ printf %s <redacted> |'
    local arg
    for arg in "$@"; do line+=" $(shell_quote "$arg")"; done
    printf '%s\n' "$line" >&3
    return 0
  fi
  printf '%s' "$value" | "$@"
}

# capture PLACEHOLDER CMD...: the command's stdout; in dry-run mode, print the
# command and return PLACEHOLDER instead.
capture() {
  local placeholder=$1; shift
  if is_dry; then print_cmd "$@"; printf '%s' "$placeholder"; return 0; fi
  "$@"
}

# exists CMD...: true when a describe command succeeds. Dry runs assume the
# resource is missing, so they show the creation path too.
exists() {
  if is_dry; then print_cmd "$@"; return 1; fi
  "$@" >/dev/null 2>&1
}

urlencode() {
  local s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in
      [a-zA-Z0-9.~_-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

random_secret() {
  # 32 random bytes, base64url: 256 bits, as the signing key needs.
  head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

# ---- configuration ---------------------------------------------------------------

if [[ -z "${PROJECT:-}" ]]; then
  if is_dry; then PROJECT=PROJECT_ID
  else PROJECT=$(gcloud config get-value project 2>/dev/null || true)
  fi
fi
[[ -n "$PROJECT" ]] || die "PROJECT is not set and gcloud has no default project"

REGION=${REGION:-us-central1}
SERVICE=${SERVICE:-adit}
LAYOUT_GIVEN=${LAYOUT:-}
LAYOUT=${LAYOUT:-single}
REPOSITORY=${REPOSITORY:-adit}
BUILD=${BUILD:-cloudbuild}
CONCURRENCY=${CONCURRENCY:-1000}
TIMEOUT=${TIMEOUT:-3600}
MIN_INSTANCES=${MIN_INSTANCES:-1}
CPU=${CPU:-1}
MEMORY=${MEMORY:-512Mi}
SERVICE_ACCOUNT=${SERVICE_ACCOUNT:-}
SIGNING_KEY_SECRET=${SIGNING_KEY_SECRET:-adit-signing-key}
API_KEYS_SECRET=${API_KEYS_SECRET:-adit-api-keys}
REDIS_URL_SECRET=${REDIS_URL_SECRET:-adit-redis-url}
REDIS_CA_SECRET=${REDIS_CA_SECRET:-adit-redis-ca}
CREATE_SECRETS=${CREATE_SECRETS:-1}
PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-}
PUBLIC_HOST_SUFFIX=${PUBLIC_HOST_SUFFIX:-}
INGRESS=${INGRESS:-all}
LARGE_UPLOADS=${LARGE_UPLOADS:-0}
if [[ "$LARGE_UPLOADS" == 1 ]]; then
  # Shown under the emulated front end (test/e2e/cloud-run/emulator.test.ts):
  # HTTP/1 → 413 past 32 MiB; --use-http2 → any size, but no agent WebSocket.
  [[ "$LAYOUT" == cluster || -z "${LAYOUT_GIVEN:-}" ]] || die "LARGE_UPLOADS=1 needs LAYOUT=cluster: one service cannot take both WebSockets and bodies above 32 MiB"
  LAYOUT=cluster
  PUB_USE_HTTP2=${PUB_USE_HTTP2:-1}
  [[ "$PUB_USE_HTTP2" == 1 ]] || die "LARGE_UPLOADS=1 needs PUB_USE_HTTP2=1: HTTP/1 bodies are capped at 32 MiB on Cloud Run"
fi
PUB_USE_HTTP2=${PUB_USE_HTTP2:-0}
REDIS_INSTANCE=${REDIS_INSTANCE:-}
REDIS_URL=${REDIS_URL:-}
REDIS_CA_FILE=${REDIS_CA_FILE:-}
NETWORK=${NETWORK:-default}
SUBNET=${SUBNET:-default}
# Where the Redis server CA is mounted in the container; NODE_EXTRA_CA_CERTS
# makes Node trust it for rediss:// without any code in the server.
REDIS_CA_MOUNT=/secrets/redis-ca/ca.pem

case "$LAYOUT" in single | cluster) ;; *) die "LAYOUT must be single or cluster, got '$LAYOUT'" ;; esac
if [[ "$LAYOUT" == single && "$PUB_USE_HTTP2" == 1 ]]; then
  die "PUB_USE_HTTP2=1 needs LAYOUT=cluster: with end-to-end HTTP/2 Cloud Run passes no WebSocket upgrade to the container, so agents need a second, HTTP/1 service"
fi
case "$INGRESS" in all | internal | internal-and-cloud-load-balancing) ;; *) die "INGRESS must be all, internal or internal-and-cloud-load-balancing, got '$INGRESS'" ;; esac
case "$BUILD" in cloudbuild | none) ;; *) die "BUILD must be cloudbuild or none, got '$BUILD'" ;; esac
[[ "$CONCURRENCY" =~ ^[0-9]+$ ]] || die "CONCURRENCY must be a number, got '$CONCURRENCY'"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] && ((TIMEOUT >= 10 && TIMEOUT <= 3600)) || die "TIMEOUT must be 10..3600 seconds, got '$TIMEOUT'"
[[ "$MIN_INSTANCES" =~ ^[0-9]+$ ]] || die "MIN_INSTANCES must be a number, got '$MIN_INSTANCES'"
[[ -z "$REDIS_INSTANCE" || -z "$REDIS_URL" ]] || die "set REDIS_INSTANCE or REDIS_URL, not both"
[[ -z "$REDIS_CA_FILE" || -r "$REDIS_CA_FILE" ]] || die "REDIS_CA_FILE '$REDIS_CA_FILE' is not readable"

USE_REDIS=0
[[ -n "$REDIS_INSTANCE" || -n "$REDIS_URL" ]] && USE_REDIS=1
if [[ "$LAYOUT" == cluster && "$USE_REDIS" == 0 ]]; then
  die "LAYOUT=cluster shares state through Redis: set REDIS_INSTANCE or REDIS_URL"
fi
# Without Redis every tunnel's agent connection lives in one process's memory:
# a second instance would receive public requests for agents it does not hold.
if [[ -z "${MAX_INSTANCES:-}" ]]; then
  if [[ "$USE_REDIS" == 1 ]]; then MAX_INSTANCES=10; else MAX_INSTANCES=1; fi
fi
[[ "$MAX_INSTANCES" =~ ^[0-9]+$ ]] || die "MAX_INSTANCES must be a number, got '$MAX_INSTANCES'"
if [[ "$USE_REDIS" == 0 && "$MAX_INSTANCES" != 1 ]]; then
  die "MAX_INSTANCES=$MAX_INSTANCES needs Redis (REDIS_INSTANCE or REDIS_URL): without it use 1"
fi

if [[ -z "${IMAGE:-}" ]]; then
  tag=$(git -C "$(dirname "$0")/.." rev-parse --short HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)
  IMAGE="$REGION-docker.pkg.dev/$PROJECT/$REPOSITORY/adit-server:$tag"
fi

G=(gcloud --project="$PROJECT" --quiet)

# ---- image -----------------------------------------------------------------------

if [[ "$BUILD" == cloudbuild ]]; then
  if ! exists "${G[@]}" artifacts repositories describe "$REPOSITORY" --location="$REGION"; then
    run "${G[@]}" artifacts repositories create "$REPOSITORY" \
      --repository-format=docker --location="$REGION" \
      --description="adit server images"
  fi
  # Cloud Build builds the Dockerfile at the repository root (.dockerignore
  # keeps the upload to package files, tsconfig.json and src/).
  run "${G[@]}" builds submit "$(cd "$(dirname "$0")/.." && pwd)" --region="$REGION" --tag="$IMAGE"
fi

# ---- secrets ---------------------------------------------------------------------

if [[ -z "$SERVICE_ACCOUNT" ]]; then
  number=$(capture PROJECT_NUMBER "${G[@]}" projects describe "$PROJECT" --format='value(projectNumber)')
  SERVICE_ACCOUNT="$number-compute@developer.gserviceaccount.com"
fi

# ensure_secret NAME VALUE-IF-CREATED: create when missing (with a random or
# given value), and let the runtime service account read it.
ensure_secret() {
  local name=$1 value=$2
  if ! exists "${G[@]}" secrets describe "$name"; then
    [[ "$CREATE_SECRETS" == 1 ]] || die "secret '$name' does not exist (CREATE_SECRETS=0)"
    run "${G[@]}" secrets create "$name" --replication-policy=automatic
    run_secret_stdin "$value" "${G[@]}" secrets versions add "$name" --data-file=-
  fi
  run "${G[@]}" secrets add-iam-policy-binding "$name" \
    --member="serviceAccount:$SERVICE_ACCOUNT" --role=roles/secretmanager.secretAccessor
}

# replace_secret NAME VALUE: a new version every deploy (values derived from
# Redis may change, e.g. after an AUTH string rotation).
replace_secret() {
  local name=$1 value=$2
  if ! exists "${G[@]}" secrets describe "$name"; then
    run "${G[@]}" secrets create "$name" --replication-policy=automatic
  fi
  run_secret_stdin "$value" "${G[@]}" secrets versions add "$name" --data-file=-
  run "${G[@]}" secrets add-iam-policy-binding "$name" \
    --member="serviceAccount:$SERVICE_ACCOUNT" --role=roles/secretmanager.secretAccessor
}

ensure_secret "$SIGNING_KEY_SECRET" "$(random_secret)"
# A Cloud Run server refuses open registration, so there is always an API key.
ensure_secret "$API_KEYS_SECRET" "$(random_secret)"
SECRETS="ADIT_SIGNING_KEY=$SIGNING_KEY_SECRET:latest,ADIT_API_KEYS=$API_KEYS_SECRET:latest"
# The front end cuts every request at --timeout, agent WebSockets included; the
# server says it to its agents, which rotate their connections at half of it.
ENV_VARS=("ADIT_SERVICE_TIMEOUT=${TIMEOUT}s")
NETWORK_FLAGS=()

# ---- Redis (Memorystore) ---------------------------------------------------------

if [[ "$USE_REDIS" == 1 ]]; then
  redis_ca=''
  if [[ -n "$REDIS_INSTANCE" ]]; then
    R=("${G[@]}" redis instances)
    # value() prints the fields tab-separated on one line.
    read -r host port tls auth_enabled <<<"$(capture 'REDIS_HOST 6378 SERVER_AUTHENTICATION True' \
      "${R[@]}" describe "$REDIS_INSTANCE" --region="$REGION" \
      --format='value(host,port,transitEncryptionMode,authEnabled)')"
    [[ -n "${host:-}" && -n "${port:-}" ]] || die "could not read host and port of Redis instance '$REDIS_INSTANCE'"
    userinfo=''
    if [[ "$auth_enabled" == True ]]; then
      auth=$(capture REDIS_AUTH "${R[@]}" get-auth-string "$REDIS_INSTANCE" --region="$REGION" --format='value(authString)')
      userinfo="default:$(urlencode "$auth")@"
    fi
    if [[ "$tls" == SERVER_AUTHENTICATION ]]; then
      REDIS_URL="rediss://$userinfo$host:$port"
      # One record per CA: during a CA rotation both are trusted.
      redis_ca=$(capture REDIS_SERVER_CA_PEM "${R[@]}" describe "$REDIS_INSTANCE" --region="$REGION" \
        --flatten=serverCaCerts --format='value(serverCaCerts.cert)')
    else
      REDIS_URL="redis://$userinfo$host:$port"
    fi
  elif [[ -n "$REDIS_CA_FILE" ]]; then
    redis_ca=$(cat "$REDIS_CA_FILE")
  fi
  # The URL can carry the AUTH string, so it is a secret, not an env var.
  replace_secret "$REDIS_URL_SECRET" "$REDIS_URL"
  SECRETS+=",REDIS_URL=$REDIS_URL_SECRET:latest"
  if [[ -n "$redis_ca" ]]; then
    replace_secret "$REDIS_CA_SECRET" "$redis_ca"
    SECRETS+=",$REDIS_CA_MOUNT=$REDIS_CA_SECRET:latest"
    ENV_VARS+=("NODE_EXTRA_CA_CERTS=$REDIS_CA_MOUNT")
  fi
  # Direct VPC egress: only private ranges (Memorystore) go through the VPC;
  # agents' and public clients' traffic stays on the default path.
  NETWORK_FLAGS=(--network="$NETWORK" --subnet="$SUBNET" --vpc-egress=private-ranges-only)
else
  NETWORK_FLAGS=(--clear-network)
fi

# ---- deploy ----------------------------------------------------------------------

if [[ "$LAYOUT" == single ]]; then
  PUB_SERVICE=$SERVICE
  WS_SERVICE=$SERVICE
else
  PUB_SERVICE="$SERVICE-pub"
  WS_SERVICE="$SERVICE-ws"
fi

# existing_url NAME: the URL of an already deployed service, or nothing. Dry
# runs treat the service as new.
existing_url() {
  if is_dry; then
    print_cmd "${G[@]}" run services describe "$1" --region="$REGION" --format='value(status.url)'
    return 0
  fi
  "${G[@]}" run services describe "$1" --region="$REGION" --format='value(status.url)' 2>/dev/null || true
}

# PUBLIC_BASE_URL: given (custom domain), or the URL of the public service when
# it already exists, so a redeploy is one revision; a first deploy learns it
# afterwards (see the end of this script).
base_url=$PUBLIC_BASE_URL
[[ -n "$base_url" ]] || base_url=$(existing_url "$PUB_SERVICE")

[[ -n "$PUBLIC_HOST_SUFFIX" ]] && ENV_VARS+=("PUBLIC_HOST_SUFFIX=$PUBLIC_HOST_SUFFIX")
[[ -n "$base_url" ]] && ENV_VARS+=("PUBLIC_BASE_URL=$base_url")
# h2c from Cloud Run's front end: the server sniffs each connection, so
# HTTP/1.1 (and the agents' WebSocket upgrades) keep working beside it.
[[ "$LAYOUT" == cluster && "$PUB_USE_HTTP2" == 1 ]] && ENV_VARS+=("ADIT_H2C=true")

# deploy_service NAME HTTP2-FLAG
deploy_service() {
  local name=$1 http2=$2
  # "^@^" makes "@" the list separator, so values may contain commas.
  local joined
  joined=$(IFS=@; printf '%s' "${ENV_VARS[*]}")
  local env_flag=(--set-env-vars="^@^$joined")
  run "${G[@]}" run deploy "$name" \
    --region="$REGION" \
    --image="$IMAGE" \
    --platform=managed \
    --allow-unauthenticated \
    --ingress="$INGRESS" \
    --port=8080 \
    --execution-environment=gen2 \
    --cpu="$CPU" --memory="$MEMORY" \
    --timeout="$TIMEOUT" \
    --concurrency="$CONCURRENCY" \
    --min-instances="$MIN_INSTANCES" \
    --max-instances="$MAX_INSTANCES" \
    --no-cpu-throttling \
    --cpu-boost \
    --session-affinity \
    "$http2" \
    --service-account="$SERVICE_ACCOUNT" \
    "${env_flag[@]}" \
    --set-secrets="$SECRETS" \
    "${NETWORK_FLAGS[@]}" \
    --startup-probe=httpGet.path=/healthz,httpGet.port=8080,periodSeconds=2,timeoutSeconds=2,failureThreshold=15 \
    --liveness-probe=httpGet.path=/healthz,httpGet.port=8080,periodSeconds=30,timeoutSeconds=3,failureThreshold=3 \
    --labels=app=adit
}

service_url() {
  capture "https://$1-PROJECT_NUMBER.$REGION.run.app" \
    "${G[@]}" run services describe "$1" --region="$REGION" --format='value(status.url)'
}

if [[ "$LAYOUT" == single ]]; then
  # WebSockets need HTTP/1.1 upgrades: no end-to-end HTTP/2 on this service.
  deploy_service "$SERVICE" --no-use-http2
else
  # The public side may use h2c end to end (no 32 MiB request body cap); the
  # agents' side keeps HTTP/1.1 for WebSocket upgrades.
  if [[ "$PUB_USE_HTTP2" == 1 ]]; then pub_http2=--use-http2; else pub_http2=--no-use-http2; fi
  deploy_service "$PUB_SERVICE" "$pub_http2"
  deploy_service "$WS_SERVICE" --no-use-http2
fi

pub_url=$(service_url "$PUB_SERVICE")
ws_url=$pub_url
[[ "$WS_SERVICE" != "$PUB_SERVICE" ]] && ws_url=$(service_url "$WS_SERVICE")

if [[ -z "$base_url" ]]; then
  # First deploy: the URL is known only now; public_url values handed to
  # agents must use it, so every service learns it in a new revision.
  for name in $(printf '%s\n' "$PUB_SERVICE" "$WS_SERVICE" | sort -u); do
    run "${G[@]}" run services update "$name" --region="$REGION" \
      --update-env-vars="PUBLIC_BASE_URL=$pub_url"
  done
fi

done_word='is deployed'
is_dry && done_word='would be deployed (dry run: nothing was changed)'
cat >&3 <<EOF

adit $done_word.
  public URL base : ${base_url:-$pub_url}
  agents connect  : ADIT_SERVER=$ws_url
  API key         : gcloud secrets versions access latest --secret=$API_KEYS_SECRET --project=$PROJECT
EOF
