# bench-targets.awk: the end of `make bench`. It reads `go test -bench` output, takes
# the median of each benchmark's runs (-count 5) and prints what issue 12 asks of them.
# Medians, not means: one run disturbed by the shared machine moves them little.
# Plain POSIX awk (Debian's mawk has no asort).

# A result line: BenchmarkName-P  N  value unit  value unit ...
/^Benchmark/ && NF >= 4 {
	name = $1
	sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) {
		key = name SUBSEP $(i + 1)
		n[key]++
		v[key, n[key]] = $i + 0
	}
}

# median of the values of key (0 when none)
function median(key,    m, i, j, t, a) {
	m = n[key]
	if (m == 0)
		return 0
	for (i = 1; i <= m; i++)
		a[i] = v[key, i]
	for (i = 2; i <= m; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	if (m % 2)
		return a[(m + 1) / 2]
	return (a[m / 2] + a[m / 2 + 1]) / 2
}

END {
	print ""
	print "bench targets (medians over the runs)"
	key = "BenchmarkSQLiteWrite" SUBSEP "rows/s"
	if (n[key] == 0) {
		printf "  %-58s  %-16s  %-34s  n/a\n", "SQLite ledger store, batches of 512", ">= 5,000 rows/s", "not measured"
	} else {
		r = median(key)
		printf "  %-58s  %-16s  %-34s  %s\n", "SQLite ledger store, batches of 512", ">= 5,000 rows/s",
			sprintf("%.0f rows/s (%d runs)", r, n[key]), (r >= 5000 ? "PASS" : "MISS")
	}
	lk = "BenchmarkRequestLimits/local" SUBSEP "ns/op"
	sk = "BenchmarkRequestLimits/shared" SUBSEP "ns/op"
	if (n[lk] > 0 && n[sk] > 0) {
		l = median(lk); s = median(sk)
		# No target here: the loadtest's Redis row judges it through the whole router.
		printf "  %-58s  %-16s  %-34s  info\n", "limits per request (Take + Add): Redis-shared vs local", "-",
			sprintf("%+.3f ms (%.4f -> %.3f ms, x%.0f)", (s - l) / 1e6, l / 1e6, s / 1e6, (l > 0 ? s / l : 0))
	}
}
