package testenv

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// ProcIO is this process's I/O accounting (/proc/self/io): WriteBytes is what it caused
// to be written to storage (page-cache pages it dirtied), RChar and WChar the bytes
// passed to read and write system calls, cached or not. The flash benchmarks measure
// with it (docs/benchmarks.md).
type ProcIO struct{ RChar, WChar, WriteBytes int64 }

// ReadProcIO reads /proc/self/io; zero where it is missing.
func ReadProcIO() ProcIO {
	var io ProcIO
	fh, err := os.Open("/proc/self/io")
	if err != nil {
		return io
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "rchar":
			io.RChar = n
		case "wchar":
			io.WChar = n
		case "write_bytes":
			io.WriteBytes = n
		}
	}
	return io
}
