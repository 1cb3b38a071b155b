#!/bin/sh
# bench_libwbxml.sh: compare decoding throughput with libwbxml.
#
# Writes the two benchmark documents of bench_test.go (a Sync response with
# 100 emails of 4 KB, and a 10 MB ItemOperations response), times
# wbxml2xml (libwbxml2-utils) on each, runs the equivalent Go benchmark
# (BenchmarkDecodeToXML: WBXML -> tree -> indented XML, the same work), and
# prints MB/s for both and the ratio.
#
#   N=20 ./activesync/wbxml/bench_libwbxml.sh
#
# wbxml2xml is a process per run, so its figures include process start-up;
# the script also prints them with the start-up time (measured on a 5-byte
# document) subtracted, which favours libwbxml.
set -eu

cd "$(dirname "$0")/../.."
N=${N:-20}
command -v wbxml2xml >/dev/null || { echo "wbxml2xml not found: apt-get install libwbxml2-utils" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT INT TERM

go test ./activesync/wbxml -run '^TestWriteBenchFiles$' -count=1 -args -benchfiles "$dir" >/dev/null
printf '\003\001\152\000\005' >"$dir/tiny.wbxml"

# seconds per wbxml2xml run on file $1, averaged over $2 runs
per_run() {
	start=$(date +%s.%N)
	i=0
	while [ "$i" -lt "$2" ]; do
		wbxml2xml -l ACTIVESYNC -o "$dir/out.xml" "$1" >/dev/null 2>&1
		i=$((i + 1))
	done
	end=$(date +%s.%N)
	echo "$start $end $2" | awk '{ printf "%.6f", ($2 - $1) / $3 }'
}

startup=$(per_run "$dir/tiny.wbxml" "$N")
echo "libwbxml $(wbxml2xml 2>&1 | sed -n 's/.*\[libwbxml \([^]]*\)\].*/\1/p' | head -n1), $N runs per file, start-up $(echo "$startup" | awk '{ printf "%.2f ms", $1 * 1000 }')"

go test ./activesync/wbxml -run '^$' -bench '^BenchmarkDecodeToXML$' -benchtime "${N}x" -count=1 >"$dir/go.txt"

for f in sync100:Sync100x4KB itemops10mb:ItemOperations10MB; do
	file=${f%%:*}
	bench=${f#*:}
	size=$(wc -c <"$dir/$file.wbxml")
	t=$(per_run "$dir/$file.wbxml" "$N")
	ours=$(awk -v b="BenchmarkDecodeToXML/$bench-" 'index($1, b) == 1 { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") print $i }' "$dir/go.txt")
	echo "$file ($size bytes):"
	echo "$size $t $startup $ours" | awk '{
		raw = $1 / $2 / 1e6; net = $1 / ($2 - $3) / 1e6
		printf "  wbxml2xml          %8.1f MB/s  (%.2f ms per run; %.1f MB/s without start-up)\n", raw, $2 * 1000, net
		printf "  Go DecodeToXML     %8.1f MB/s\n", $4
		printf "  ratio              %8.1fx (vs start-up-corrected: %.1fx)\n", $4 / raw, $4 / net
	}'
done
