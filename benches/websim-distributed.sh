#!/usr/bin/env bash
# Throughput of the distributed mode on a websim site, every process on this
# machine: pages/s, CPU seconds per 1,000 pages (our processes, RabbitMQ and
# Redis counted), Redis memory, the broker's peak RSS, and the audit.
#
#   benches/websim-distributed.sh SITE_DIR [FETCHERS] [PARSERS] [-- extra fetcher flags]
#
# SITE_DIR is a generated websim folder already served (websim/serve.sh start).
# CRAWLER (default target/release/crawler) and WEBSIM (default ../shared/websim);
# BROKER_PID: the RabbitMQ node to measure (default: the first beam.smp), with
# CRAWL_AMQP_URL pointing at it.
set -euo pipefail
site=$(cd "$1" && pwd); fetchers=${2:-2}; parsers=${3:-2}; shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
crawler=${CRAWLER:-$root/target/release/crawler}
websim=${WEBSIM:-$root/../shared/websim}
export CRAWL_NAMESPACE=bench-$$ CRAWL_LOG=${CRAWL_LOG:-warn}
work=$(mktemp -d); export CRAWL_BODIES=$work/bodies CRAWL_OUT=$work/out
"$websim/serve.sh" rotate "$site" "before-$CRAWL_NAMESPACE" >/dev/null

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
beam=${BROKER_PID:-$(pgrep -f beam.smp | head -1)}; redis=$(pgrep -x redis-server | head -1)
beam0=$(ticks "$beam"); redis0=$(ticks "$redis")
peak_file=$work/beam-peak; echo 0 > "$peak_file"
( while sleep 0.5; do rss=$(awk '/VmRSS/{print $2}' "/proc/$beam/status");
    [ "$rss" -gt "$(cat "$peak_file")" ] && echo "$rss" > "$peak_file"; done ) & sampler=$!

pids=()
"$crawler" scheduler > "$work/scheduler.log" 2>&1 & pids+=($!)
for _ in $(seq "$fetchers"); do "$crawler" fetcher --allow-private "$@" > "$work/fetcher-$!.log" 2>&1 & pids+=($!); done
for _ in $(seq "$parsers"); do "$crawler" parser > "$work/parser-$!.log" 2>&1 & pids+=($!); done
"$crawler" sink > "$work/sink.log" 2>&1 & pids+=($!)
sleep 1
start=$(date +%s.%N)
"$crawler" seed --seeds "$site/seeds.txt" --wait | tee "$work/summary.txt"
end=$(date +%s.%N)

ours=0; for p in "${pids[@]}"; do ours=$((ours + $(ticks "$p"))); done
beam_cpu=$(( $(ticks "$beam") - beam0 )); redis_cpu=$(( $(ticks "$redis") - redis0 ))
redis_mem=$(redis-cli info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')
kill "$sampler"; kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
pages=$(grep -o 'fetched_2xx [0-9]*' "$work/summary.txt" | awk '{print $2}')
seen=$(grep -o 'url_admitted [0-9]*' "$work/summary.txt" | awk '{print $2}')
python3 - "$start" "$end" "$pages" "$ours" "$beam_cpu" "$redis_cpu" "$hz" "$redis_mem" "$(cat "$peak_file")" "$seen" <<'PY'
import sys
start, end, pages, ours, beam, redis, hz, rmem, peak, seen = map(float, sys.argv[1:])
wall = end - start
print(f"pages (2xx): {pages:.0f} in {wall:.1f} s = {pages / wall:.0f} pages/s")
print(f"CPU s per 1,000 pages: ours {ours / hz / pages * 1000:.2f}, RabbitMQ {beam / hz / pages * 1000:.2f}, "
      f"Redis {redis / hz / pages * 1000:.2f}, total {(ours + beam + redis) / hz / pages * 1000:.2f}")
print(f"Redis used_memory at the end: {rmem / 1e6:.1f} MB ({rmem / seen:.0f} B per admitted URL, everything counted)")
print(f"RabbitMQ peak RSS during the crawl: {peak / 1024:.0f} MB")
PY
python3 "$websim/audit.py" "$site" | sed -n '2,12p'
"$crawler" purge --yes >/dev/null
rm -rf "$work"
