package locker

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// procIO is this process's I/O accounting (/proc/self/io): WriteBytes is what it caused
// to be written to storage (page-cache pages it dirtied), RChar and WChar the bytes
// passed to read and write system calls, cached or not.
type procIO struct{ RChar, WChar, WriteBytes int64 }

// readProcIO reads /proc/self/io; zero where it is missing.
func readProcIO() procIO {
	var io procIO
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

// pagesWritten is the number of page writes bbolt has made in db's committed
// transactions (dirty pages, the freelist and the meta page of each commit).
func pagesWritten(db *bolt.DB) int64 {
	st := db.Stats()
	return st.TxStats.GetWrite()
}
