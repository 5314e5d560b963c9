#!/usr/bin/env bash
# Issue 18's performance targets, measured for one or more kubepki binaries side by side (say the
# build before a change and the build after it), in alternating rounds so that a change in the
# machine's load hits every binary alike:
#
#   - `kubepki --version` (process start), against `true`;
#   - `kubepki init` ECDSA-P256 (certs + kubeconfigs) on disk and on tmpfs (/dev/shm);
#   - `kubepki issue kubelet --node-list` for 1,000 nodes (2,000 ECDSA-P256 certificates) on
#     disk and on tmpfs, into a copy of a tree made by `init-ca`;
#   - `kubepki init` RSA-2048 (its floor is `cargo bench --bench pki -- keygen/RSA-2048`:
#     16 keys × one key / the number of cores).
#
# Every run writes into a fresh directory (never deleted before the end: see bench/compare.sh on
# ext4's inode allocator), with a `sync` before it. Prints the median (and the minimum) of each,
# in ms, as a Markdown table, with the load average before and after. hyperfine is required.
#
# Usage: bash bench/targets.sh KUBEPKI [KUBEPKI...]
# Env:   ROUNDS (default 2), RUNS_FAST (--version: 1000), RUNS_INIT (200), RUNS_NODES (10),
#        RUNS_RSA (30), BENCH_DIR (default: a new directory under $TMPDIR, removed at the end)
set -euo pipefail

(($# > 0)) || { echo "usage: $0 KUBEPKI [KUBEPKI...]" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "hyperfine is required" >&2; exit 1; }
ROUNDS=${ROUNDS:-2} RUNS_FAST=${RUNS_FAST:-1000} RUNS_INIT=${RUNS_INIT:-200}
RUNS_NODES=${RUNS_NODES:-10} RUNS_RSA=${RUNS_RSA:-30}
BINS=()
for b in "$@"; do BINS+=("$(realpath "$b")"); done

CLEANUP=()
cleanup() { ((${#CLEANUP[@]} == 0)) || rm -rf "${CLEANUP[@]}"; }
trap cleanup EXIT
WORK=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/kubepki-targets.XXXXXX")}
[[ -n ${BENCH_DIR:-} ]] || CLEANUP+=("$WORK")
SHM=$(mktemp -d /dev/shm/kubepki-targets.XXXXXX)
CLEANUP+=("$SHM")

# A script that points WHERE/cur at a new directory (a copy of SEED when given), then syncs.
fresh() { # WHERE [SEED]
    local where=$1 seed=${2:-} script
    mkdir -p "$where"
    script=$(mktemp "$WORK/prepare.XXXXXX")
    cat >"$script" <<EOF
n=\$(( \$(cat "$where/count" 2>/dev/null || echo 0) + 1 ))
echo "\$n" >"$where/count"
${seed:+cp -a "$seed" "$where/run.\$n"}
mkdir -p "$where/run.\$n"
ln -sfn "$where/run.\$n" "$where/cur"
sync
EOF
    echo "bash $script"
}

# median NAME RUNS PREPARE COMMAND: "median (min)" in ms.
median() {
    local name=$1 runs=$2 prepare=$3 command=$4 json=$WORK/$1.json
    hyperfine --style none --shell=none --warmup 3 --runs "$runs" \
        ${prepare:+--prepare "$prepare"} --export-json "$json" "$command" >/dev/null 2>&1
    python3 - "$json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(f'{r["median"] * 1e3:.2f} ({min(r["times"]) * 1e3:.2f})')
EOF
}

NODE_LIST=$WORK/nodes.txt
seq 1 1000 | awk '{printf "node-%04d 10.1.%d.%d\n", $1, int($1 / 250), $1 % 250 + 1}' >"$NODE_LIST"
SEED=$WORK/seed
"${BINS[0]}" init-ca --cert-dir "$SEED/pki" --key-algorithm ECDSA-P256 >/dev/null
INIT="--node-name node-1 --apiserver-advertise-address 192.168.1.10"

declare -A RESULT
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for ((round = 1; round <= ROUNDS; round++)); do
    RESULT[true,$round]=$(median true "$RUNS_FAST" "" "true")
    for i in "${!BINS[@]}"; do
        k=${BINS[$i]} d=$WORK/b$i s=$SHM/b$i
        echo "round $round: $k" >&2
        RESULT[version,$i,$round]=$(median version "$RUNS_FAST" "" "$k --version")
        RESULT[init-disk,$i,$round]=$(median init "$RUNS_INIT" "$(fresh "$d/init")" \
            "$k init --cert-dir $d/init/cur/pki --kubeconfig-dir $d/init/cur $INIT --key-algorithm ECDSA-P256")
        RESULT[init-shm,$i,$round]=$(median init "$RUNS_INIT" "$(fresh "$s/init")" \
            "$k init --cert-dir $s/init/cur/pki --kubeconfig-dir $s/init/cur $INIT --key-algorithm ECDSA-P256")
        RESULT[nodes-disk,$i,$round]=$(median nodes "$RUNS_NODES" "$(fresh "$d/nodes" "$SEED")" \
            "$k issue kubelet --cert-dir $d/nodes/cur/pki --node-list $NODE_LIST --key-algorithm ECDSA-P256")
        RESULT[nodes-shm,$i,$round]=$(median nodes "$RUNS_NODES" "$(fresh "$s/nodes" "$SEED")" \
            "$k issue kubelet --cert-dir $s/nodes/cur/pki --node-list $NODE_LIST --key-algorithm ECDSA-P256")
    done
done
for i in "${!BINS[@]}"; do
    k=${BINS[$i]} d=$WORK/b$i
    echo "RSA-2048 init: $k" >&2
    RESULT[rsa,$i]=$(median rsa "$RUNS_RSA" "$(fresh "$d/rsa")" \
        "$k init --cert-dir $d/rsa/cur/pki --kubeconfig-dir $d/rsa/cur $INIT --key-algorithm RSA-2048")
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo "Median (minimum) in ms; rounds separated by /; $(nproc) cores, $(df -PT "$WORK" | awk 'NR == 2 {print $2}') (\"disk\")."
echo
header="| | goal |" rule="|---|---|"
for i in "${!BINS[@]}"; do header+=" ${BINS[$i]} |"; rule+="---|"; done
echo "$header"
echo "$rule"
rounds() { # KEY
    local out="" r
    for ((r = 1; r <= ROUNDS; r++)); do out+="${out:+ / }${RESULT[$1,$r]}"; done
    echo "$out"
}
line() { # LABEL GOAL KEY
    local row="| $1 | $2 |" i
    for i in "${!BINS[@]}"; do row+=" $(rounds "$3,$i") |"; done
    echo "$row"
}
line "\`--version\` (\`true\`: $(rounds true))" "≤ 1 ms" version
line "\`init\` ECDSA-P256, disk" "≤ 6 ms" init-disk
line "\`init\` ECDSA-P256, tmpfs" "–" init-shm
line "\`issue kubelet\`, 1,000 nodes, ECDSA-P256, disk" "≤ 400 ms" nodes-disk
line "\`issue kubelet\`, 1,000 nodes, ECDSA-P256, tmpfs" "–" nodes-shm
row="| \`init\` RSA-2048 | the floor |"
for i in "${!BINS[@]}"; do row+=" ${RESULT[rsa,$i]} |"; done
echo "$row"
