package serialport

import (
	"fmt"
	"slices"
	"testing"
)

func TestHolders(t *testing.T) {
	const locks = `1: FLOCK  ADVISORY  WRITE 812 00:05:1044 0 EOF
1: -> FLOCK  ADVISORY  WRITE 901 00:05:1044 0 EOF
2: POSIX  ADVISORY  WRITE 77 00:05:1044 0 EOF
3: FLOCK  ADVISORY  WRITE 13 fe:01:1044 0 EOF
4: FLOCK  ADVISORY  WRITE 14 00:05:1045 0 EOF
garbage
5: FLOCK  ADVISORY  WRITE x 00:05:1044 0 EOF
6: FLOCK  ADVISORY  WRITE 15 00:05 0 EOF
`
	for _, tc := range []struct {
		name         string
		major, minor uint32
		ino          uint64
		want         []int
	}{
		{"holder, not waiter nor posix", 0, 5, 1044, []int{812}},
		{"hex major and minor", 0xfe, 1, 1044, []int{13}},
		{"no lock on it", 0, 5, 9, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := holders([]byte(locks), tc.major, tc.minor, tc.ino); !slices.Equal(got, tc.want) {
				t.Errorf("holders = %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzHolders(f *testing.F) {
	f.Add([]byte("1: FLOCK  ADVISORY  WRITE 812 00:05:1044 0 EOF\n"), uint32(0), uint32(5), uint64(1044))
	f.Add([]byte("1: -> FLOCK x y 1 2:3:4\n\n7: FLOCK a b -1 ff:ff:18446744073709551615"), uint32(255), uint32(255), uint64(1<<64-1))
	f.Fuzz(func(t *testing.T, data []byte, major, minor uint32, ino uint64) {
		before := holders(data, major, minor, ino)
		// A holder of this file appended on a line of its own is found, after the
		// ones before it: no input stops the parser from reading on.
		line := fmt.Sprintf("\n9: FLOCK  ADVISORY  WRITE 4242 %02x:%02x:%d 0 EOF\n", major, minor, ino)
		after := holders(append(slices.Clone(data), line...), major, minor, ino)
		if len(after) == 0 || after[len(after)-1] != 4242 || !slices.Equal(after[:len(after)-1], before) {
			t.Fatalf("holders %v, then %v with a holder appended", before, after)
		}
	})
}
