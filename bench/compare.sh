#!/usr/bin/env bash
# Process-level benchmarks of kubepki on this machine, printed as a Markdown table with the
# project's goals:
#
#   - `kubepki init` (3 CAs, 7 leaves, sa.key/sa.pub and the five kubeconfigs) against
#     bench/openssl-pki.sh (the same tree the way the Kubernetes docs' openssl walkthroughs make
#     it), for ECDSA-P256 and RSA-2048;
#   - `kubepki issue kubelet --node-list` for 1,000 nodes (kubelet-client + kubelet-server each:
#     2,000 certificates) per run, for ECDSA-P256 and RSA-2048; ECDSA-P256 once more with the
#     tree on tmpfs (/dev/shm), which separates the cost of the disk from the rest;
#   - `kubepki check-expiration` over 10,015 certificates (5,000 nodes' kubelet pairs, the 10
#     control-plane certificates and the 5 kubeconfig client certificates), if this build of
#     kubepki has that command (checked at run time; the row is skipped with a note otherwise);
#   - the peak RSS of every kubepki command, from GNU time's `-v` ("Maximum resident set size"),
#     the largest of 3 runs (1 run for the 1,000 RSA-2048 nodes, ~1.5 min each on 2 cores);
#   - `kubepki --version` (the cost of starting the process), median of max(RUNS, 300) runs;
#   - the floor of an RSA-2048 `init`: 16 keys × one RSA-2048 key generation by aws-lc-rs
#     in-process (`cargo bench --bench pki`, keygen/RSA-2048 (aws-lc-rs alone), criterion's
#     estimate) / the number of cores, beside the measured `init` (skipped with BENCH_NO_FLOOR=1).
#
# Every timing is the median of RUNS runs (default 10, at least 10); all contenders are measured
# in this one run of the script, one after the other. Timings use hyperfine when it is installed
# (or can be installed with apt-get), else a plain loop around `date +%s%N`.
#
# Each run writes into a directory of its own (a symlink is pointed at it before the run), and
# nothing is deleted before the end of the script: on ext4 without a journal (as on this
# project's machines) the inode allocator skips inodes freed in the last 60-300 s, so a run that
# follows an `rm -rf` of the previous run's thousands of files pays for that deletion. `sync`
# runs before every run, so no run pays for the writeback of the previous one either.
#
# Usage: bash bench/compare.sh            (RUNS=N to change the number of runs)
# Env:   BENCH_NO_INSTALL=1  never apt-get install anything
#        BENCH_NO_FLOOR=1    skip the criterion run for the RSA floor (it builds the bench)
#        BENCH_DIR=DIR       where to write the trees (default: a new directory under $TMPDIR,
#                            removed at the end; the trees take ~1 GB)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-10}
if ((RUNS < 10)); then
    echo "RUNS must be at least 10 (the medians are of >= 10 runs)" >&2
    exit 2
fi
# Only for trying the script out quickly; the reported benchmarks use the defaults.
NODES=${BENCH_NODES:-1000}
CHECK_NODES=${BENCH_CHECK_NODES:-5000}

log() { printf '%s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------------

can_install() {
    [[ -z ${BENCH_NO_INSTALL:-} && $(id -u) == 0 ]] && command -v apt-get >/dev/null
}
apt_install() { # PACKAGE
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1; }
}

# GNU time (Debian package `time`) measures peak RSS: /usr/bin/time -v prints "Maximum resident
# set size (kbytes)"; the shell's `time` keyword cannot. Installed here when it is missing.
if [[ ! -x /usr/bin/time ]] && can_install; then
    log "installing GNU time (apt-get install -y time) for peak RSS"
    apt_install time || true
fi
HAVE_GNU_TIME=0
# (Captured first: `grep -q` would exit at the first match, and under pipefail the SIGPIPE that
# time then gets would make the probe fail.)
if [[ -x /usr/bin/time ]] && [[ $(/usr/bin/time -v true 2>&1) == *"Maximum resident"* ]]; then
    HAVE_GNU_TIME=1
fi

if ! command -v hyperfine >/dev/null && can_install; then
    log "installing hyperfine (apt-get install -y hyperfine)"
    apt_install hyperfine || true
fi
if command -v hyperfine >/dev/null; then
    TIMER="hyperfine $(hyperfine --version | awk '{print $2}')"
else
    TIMER="a shell loop around date +%s%N"
fi

for tool in openssl kubectl cargo; do
    command -v "$tool" >/dev/null || { log "$tool is required"; exit 1; }
done

# --- build -------------------------------------------------------------------------------------

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "building kubepki (cargo build --release)"
(cd "$REPO" && cargo build --release --quiet)
K=$REPO/target/release/kubepki
OPENSSL_PKI=$REPO/bench/openssl-pki.sh

CLEANUP=()
cleanup() { ((${#CLEANUP[@]} == 0)) || rm -rf "${CLEANUP[@]}"; }
trap cleanup EXIT
if [[ -n ${BENCH_DIR:-} ]]; then
    WORK=$BENCH_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/kubepki-bench.XXXXXX")
    CLEANUP+=("$WORK")
fi

# --- measuring ---------------------------------------------------------------------------------

# fresh LINK [SEED]: a shell script that points the symlink LINK at a new directory LINK.N (a copy
# of the directory SEED when given), then syncs. Commands write below LINK.
fresh() {
    local link=$1 seed=${2:-}
    local script
    script=$(mktemp "$WORK/prepare.XXXXXX")
    cat >"$script" <<EOF
n=\$(( \$(cat "$link.count" 2>/dev/null || echo 0) + 1 ))
echo "\$n" >"$link.count"
${seed:+cp -a "$seed" "$link.\$n"}
mkdir -p "$link.\$n"
ln -sfn "$link.\$n" "$link"
sync
EOF
    echo "bash $script"
}

# median_ms PREPARE COMMAND [WARMUP]: the median wall time of RUNS runs of COMMAND, in ms;
# PREPARE (from `fresh`) runs before each, untimed. COMMAND is split on spaces (every path here
# is free of them); its output is discarded.
median_ms() {
    local prepare=$1 command=$2 warmup=${3:-1}
    if command -v hyperfine >/dev/null; then
        local json=$WORK/hyperfine.json
        hyperfine --style none --runs "$RUNS" --warmup "$warmup" --shell=none \
            --prepare "$prepare" --export-json "$json" "$command" >/dev/null
        grep -o '"median": *[0-9.e+-]*' "$json" | head -n1 |
            awk '{printf "%.3f", $2 * 1000}'
    else
        local i t0 t1 times=()
        for ((i = 0; i < warmup; i++)); do
            $prepare
            $command >/dev/null
        done
        for ((i = 0; i < RUNS; i++)); do
            $prepare
            t0=$(date +%s%N)
            $command >/dev/null
            t1=$(date +%s%N)
            times+=($((t1 - t0)))
        done
        printf '%s\n' "${times[@]}" | sort -n |
            awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
                 printf "%.3f", m / 1e6}'
    fi
}

# peak_rss_mib PREPARE COMMAND [N]: the largest "Maximum resident set size" of N runs (default
# 3), in MiB.
peak_rss_mib() {
    local prepare=$1 command=$2 n=${3:-3} i kib max=0
    if ((!HAVE_GNU_TIME)); then
        echo "n/a"
        return
    fi
    for ((i = 0; i < n; i++)); do
        $prepare
        # shellcheck disable=SC2086 # COMMAND is split on spaces on purpose
        kib=$(/usr/bin/time -v $command 2>&1 >/dev/null |
            awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}')
        ((kib > max)) && max=$kib
    done
    awk -v k="$max" 'BEGIN {printf "%.1f", k / 1024}'
}

# verdict VALUE OP LIMIT: "met" or "**missed**".
verdict() {
    if awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {exit !((op == "<=") ? v <= l : v >= l)}'; then
        echo "met"
    else
        echo "**missed**"
    fi
}
rss_verdict() { # MIB
    if [[ $1 == n/a ]]; then echo "RSS not measured"; else echo "RSS $(verdict "$1" "<=" "$RSS_GOAL")"; fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", a / b}'; }
ms_fmt() {
    awk -v v="$1" 'BEGIN {if (v >= 1000) printf "%.2f s", v / 1000;
                          else if (v < 10) printf "%.2f ms", v; else printf "%.1f ms", v}'
}

ROWS=()
row() {
    ROWS+=("| $1 | $2 | $3 | $4 | $5 |")
    log "${ROWS[-1]}" # as it comes, in case a later step fails
}
NOTES=()

INIT_ARGS=(--node-name node-1 --apiserver-advertise-address 192.168.1.10)
RSS_GOAL=15

# --- process start -----------------------------------------------------------------------------

log "timing: kubepki --version"
v_runs=$((RUNS > 300 ? RUNS : 300))
v_ms=$(RUNS=$v_runs median_ms true "$K --version" 20)
t_ms=$(RUNS=$v_runs median_ms true "true" 20)
row "\`kubepki --version\` (process start; \`true\`: $(ms_fmt "$t_ms"))" "$(ms_fmt "$v_ms")" "–" \
    "≤ 1 ms" "$(verdict "$v_ms" "<=" 1)"

# --- the floor of an RSA init ------------------------------------------------------------------

# criterion's estimate of one RSA-2048 key generation by aws-lc-rs, in ms (empty when skipped).
rsa_key_ms() {
    [[ -z ${BENCH_NO_FLOOR:-} ]] || return 0
    log "measuring one RSA-2048 key generation in-process (cargo bench, ~1 min)"
    (cd "$REPO" && cargo bench --quiet --bench pki -- 'keygen/RSA-2048 \(aws-lc-rs alone\)' 2>/dev/null) |
        awk '{for (i = 1; i <= NF; i++) if ($i == "time:") {
                  v = $(i + 3); u = $(i + 4);
                  if (u == "s") v *= 1000; else if (u == "µs" || u == "us") v /= 1000;
                  printf "%.1f", v; exit}}'
}
RSA_KEY_MS=$(rsa_key_ms)
CORES=$(nproc)

# --- kubepki init vs the openssl walkthrough ---------------------------------------------------

for alg in ECDSA-P256 RSA-2048; do
    case $alg in
    ECDSA-P256) script_alg=ecdsa time_goal=6 time_goal_text="≤ 6 ms" speed_goal=100 ;;
    RSA-2048) script_alg=rsa time_goal=900 time_goal_text="≤ 0.9 s" speed_goal=5 ;;
    esac
    d=$WORK/init-$alg
    cmd="$K init --cert-dir $d/pki ${INIT_ARGS[*]} --key-algorithm $alg"
    log "timing: kubepki init, $alg"
    k_ms=$(median_ms "$(fresh "$d")" "$cmd")
    k_rss=$(peak_rss_mib "$(fresh "$d")" "$cmd")
    [[ -f $d/pki/etcd/peer.crt && -f $d/scheduler.conf ]] || { log "kubepki init made no tree"; exit 1; }

    o=$WORK/openssl-$script_alg
    log "timing: bench/openssl-pki.sh $script_alg"
    o_ms=$(median_ms "$(fresh "$o")" "bash $OPENSSL_PKI $o $script_alg")
    openssl verify -CAfile "$o/pki/ca.crt" "$o/pki/apiserver.crt" "$o/kubeconfig-certs/admin.crt" \
        >/dev/null || { log "the openssl tree does not verify"; exit 1; }

    speed=$(ratio "$o_ms" "$k_ms")
    row "\`kubepki init\` $alg: 3 CAs, 7 leaves, sa, 5 kubeconfigs" "$(ms_fmt "$k_ms")" \
        "$k_rss MiB" "$time_goal_text; RSS ≤ $RSS_GOAL MiB" \
        "time $(verdict "$k_ms" "<=" "$time_goal"); $(rss_verdict "$k_rss")"
    row "\`bench/openssl-pki.sh $script_alg\`: the same tree with openssl + kubectl" \
        "$(ms_fmt "$o_ms")" "–" "–" "–"
    row "kubepki speed-up over the openssl script, $alg" "${speed}×" "–" "≥ ${speed_goal}×" \
        "$(verdict "$speed" ">=" "$speed_goal")"
    if [[ $alg == RSA-2048 && -n $RSA_KEY_MS ]]; then
        floor=$(awk -v k="$RSA_KEY_MS" -v c="$CORES" 'BEGIN {printf "%.1f", 16 * k / c}')
        over=$(awk -v m="$k_ms" -v f="$floor" 'BEGIN {printf "%+.0f%%", (m / f - 1) * 100}')
        row "the floor of \`kubepki init\` RSA-2048: 16 keys × $RSA_KEY_MS ms (aws-lc-rs, in-process) / $CORES cores" \
            "$(ms_fmt "$floor") (measured init: $(ms_fmt "$k_ms"), $over)" "–" "init at the floor" \
            "$(verdict "$k_ms" "<=" "$(awk -v f="$floor" 'BEGIN {print f * 1.1}')") (within 10%)"
    fi
done

# --- issuing kubelet certificates for 1,000 nodes ----------------------------------------------

NODE_LIST=$WORK/nodes-$NODES.txt
seq 1 "$NODES" | awk '{printf "node-%04d 10.1.%d.%d\n", $1, int($1 / 250), $1 % 250 + 1}' >"$NODE_LIST"

# On tmpfs too, when /dev/shm is one: the same work without a disk.
SHM=""
if [[ $(df -PT /dev/shm 2>/dev/null | awk 'NR == 2 {print $2}') == tmpfs ]]; then
    SHM=$(mktemp -d /dev/shm/kubepki-bench.XXXXXX)
    CLEANUP+=("$SHM")
fi

kubelet_cases=("ECDSA-P256 $WORK disk" "RSA-2048 $WORK disk")
[[ -n $SHM ]] && kubelet_cases+=("ECDSA-P256 $SHM tmpfs")
for case in "${kubelet_cases[@]}"; do
    read -r alg root where <<<"$case"
    base=$root/kubelet-seed-$alg
    d=$root/kubelet-$alg
    rm -rf "$base"
    "$K" init-ca --cert-dir "$base/pki" --key-algorithm "$alg" >/dev/null
    cmd="$K issue kubelet --cert-dir $d/pki --node-list $NODE_LIST --key-algorithm $alg"
    log "timing: kubepki issue kubelet, $NODES nodes, $alg, on $where"
    # RSA: 2,000 keys make one run long (~1.5 min on 2 cores): no warm-up, one RSS run.
    warmup=1 rss_runs=3
    [[ $alg == RSA-2048 ]] && warmup=0 rss_runs=1
    k_ms=$(median_ms "$(fresh "$d" "$base")" "$cmd" "$warmup")
    k_rss=$(peak_rss_mib "$(fresh "$d" "$base")" "$cmd" "$rss_runs")
    n=$(find "$d/pki/kubelet/" -name '*.crt' | wc -l)
    ((n == 2 * NODES)) || { log "expected $((2 * NODES)) certificates, found $n"; exit 1; }
    label="\`kubepki issue kubelet --node-list\` $alg: $NODES nodes = $n certs"
    [[ $where == tmpfs ]] && label="$label, tree on tmpfs (control: no disk)"
    per_cert=$(awk -v v="$k_ms" -v n="$n" 'BEGIN {printf "%.2f", v / n}')
    time_goal=1000 time_goal_text="≤ 1 s"
    [[ $alg == ECDSA-P256 && $where == disk ]] && time_goal=400 time_goal_text="≤ 0.4 s"
    row "$label" "$(ms_fmt "$k_ms") per run ($per_cert ms/cert)" "$k_rss MiB" \
        "$time_goal_text; RSS ≤ $RSS_GOAL MiB" \
        "time $(verdict "$k_ms" "<=" "$time_goal"); $(rss_verdict "$k_rss")"
done

# --- check-expiration over 10,000 certificates -------------------------------------------------

if "$K" check-expiration --help >/dev/null 2>&1; then
    d=$WORK/check
    rm -rf "$d"
    "$K" init --cert-dir "$d/pki" "${INIT_ARGS[@]}" --key-algorithm ECDSA-P256 >/dev/null
    # In batches of 1,000 nodes: one `issue` run keeps every staged file open until it renames
    # them, and 5,000 nodes (10,000 files) exceed a 10,240 open-file limit (EMFILE).
    seq 1 "$CHECK_NODES" | awk '{printf "node-%05d 10.2.%d.%d\n", $1, int($1 / 250), $1 % 250 + 1}' |
        split -l 1000 - "$WORK/check-nodes."
    for list in "$WORK"/check-nodes.*; do
        "$K" issue kubelet --cert-dir "$d/pki" --node-list "$list" --key-algorithm ECDSA-P256 >/dev/null
    done
    n=$(($(find "$d/pki" -name '*.crt' | wc -l) + 5))
    cmd="$K check-expiration --cert-dir $d/pki"
    log "timing: kubepki check-expiration over $n certificates"
    sync
    c_ms=$(median_ms "true" "$cmd")
    c_rss=$(peak_rss_mib "true" "$cmd")
    row "\`kubepki check-expiration\`: $n certs ($CHECK_NODES nodes × 2, 10 control-plane, 5 kubeconfigs)" \
        "$(ms_fmt "$c_ms")" "$c_rss MiB" "RSS ≤ $RSS_GOAL MiB (no time goal)" "$(rss_verdict "$c_rss")"
else
    NOTES+=("\`kubepki check-expiration\` is not in this build (\`kubepki check-expiration --help\` failed): its row is skipped.")
fi

# --- report ------------------------------------------------------------------------------------

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
fs=$(df -PT "$WORK" | awk 'NR == 2 {print $2}')
rev=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)
kubectl_version=$(kubectl version --client -o yaml 2>/dev/null | awk '/gitVersion/ {print $2; exit}')
echo
echo "kubepki $rev; $(nproc) × $cpu, $(free -g | awk '/Mem:/ {print $2}') GiB; trees on $fs" \
    "(\"disk\"); $(openssl version | awk '{print $1, $2}'); kubectl $kubectl_version."
echo "Median of $RUNS runs each ($TIMER), each run in a fresh directory; peak RSS: GNU time -v," \
    "largest of 3 runs (1 for RSA-2048 kubelet). Load average (1/5/15 min) at the start:" \
    "$LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| Benchmark | Median | Peak RSS | Goal | Result |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
for note in "${NOTES[@]+"${NOTES[@]}"}"; do
    echo
    echo "Note: $note"
done
