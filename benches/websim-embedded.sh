#!/usr/bin/env bash
# Throughput of the embedded mode on a websim site: pages/s, CPU seconds per
# 1,000 pages, peak memory, and the audit.
#
#   benches/websim-embedded.sh SITE_DIR [-- extra crawl flags]
#
# SITE_DIR is a generated websim folder already served (websim/serve.sh start).
set -euo pipefail
site=$(cd "$1" && pwd); shift; [ "${1:-}" = "--" ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
crawler=${CRAWLER:-$root/target/release/crawler}
websim=${WEBSIM:-$root/../shared/websim}
out=$(mktemp -d)
"$websim/serve.sh" rotate "$site" "before-embedded-$$" >/dev/null
/usr/bin/time -v "$crawler" crawl --seeds "$site/seeds.txt" --out "$out" --allow-private --progress never "$@" \
  > "$out/summary.txt" 2> "$out/time.txt"
cat "$out/summary.txt"
pages=$(grep -o 'fetched_2xx [0-9]*' "$out/summary.txt" | awk '{print $2}')
python3 - "$out/time.txt" "$pages" <<'PY'
import re, sys
t = open(sys.argv[1]).read(); pages = int(sys.argv[2])
get = lambda k: re.search(k + r".*: (.*)", t).group(1)
cpu = float(get("User time")) + float(get("System time"))
wall = get("Elapsed")
m, s = wall.split(":")[-2:]
secs = float(m) * 60 + float(s)
print(f"pages (2xx): {pages} in {secs:.1f} s = {pages / secs:.0f} pages/s; "
      f"CPU {cpu / pages * 1000:.2f} s per 1,000 pages; peak RSS {int(get('Maximum resident')) / 1024:.0f} MB")
PY
python3 "$websim/audit.py" "$site" | sed -n '2,12p'
rm -rf "$out"
