package serialport

import (
	"bytes"
	"strconv"
	"strings"
)

// holders parses /proc/locks and returns the pids holding an FLOCK on the file with
// device major:minor and inode ino, in the file's order. Lines look like
//
//	1: FLOCK  ADVISORY  WRITE 812 00:05:1044 0 EOF
//	1: -> FLOCK  ADVISORY  WRITE 901 00:05:1044 0 EOF
//
// with major and minor in hex and the inode in decimal; "->" lines are waiters, not
// holders. Lines that do not parse are skipped.
func holders(data []byte, major, minor uint32, ino uint64) []int {
	var out []int
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 6 || f[1] != "FLOCK" {
			continue // a waiter ("->"), a POSIX lock or a line we do not know
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil {
			continue
		}
		id := strings.Split(f[5], ":")
		if len(id) != 3 {
			continue
		}
		ma, err1 := strconv.ParseUint(id[0], 16, 32)
		mi, err2 := strconv.ParseUint(id[1], 16, 32)
		in, err3 := strconv.ParseUint(id[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if uint32(ma) == major && uint32(mi) == minor && in == ino {
			out = append(out, pid)
		}
	}
	return out
}
