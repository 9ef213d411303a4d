package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func testRoot() *cobra.Command {
	root := &cobra.Command{Use: "prog"}
	root.PersistentFlags().String("config", "", "")
	sub := &cobra.Command{Use: "sub", Run: func(*cobra.Command, []string) {}}
	sub.Flags().IntP("count", "n", 0, "")
	sub.Flags().Bool("present", false, "")
	root.AddCommand(sub)
	return root
}

func TestLongFlags(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want []string
	}{
		{"persistent flag, one dash", []string{"-config", "f", "sub"}, []string{"--config", "f", "sub"}},
		{"with a value", []string{"-config=f", "sub"}, []string{"--config=f", "sub"}},
		{"a subcommand's flag", []string{"sub", "-present"}, []string{"sub", "--present"}},
		{"already two dashes", []string{"--config", "f"}, []string{"--config", "f"}},
		{"shorthand left alone", []string{"sub", "-n", "-1"}, []string{"sub", "-n", "-1"}},
		{"the long name of a shorthand", []string{"sub", "-count", "3"}, []string{"sub", "--count", "3"}},
		{"standard input", []string{"sub", "-"}, []string{"sub", "-"}},
		{"negative number", []string{"sub", "-12"}, []string{"sub", "-12"}},
		{"unknown name", []string{"-frob"}, []string{"-frob"}},
		{"after --", []string{"sub", "--", "-config"}, []string{"sub", "--", "-config"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LongFlags(testRoot(), tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("LongFlags(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzLongFlags: the rewrite keeps the arguments' number and order, only ever adds
// one dash, and only to a known long flag's name before any "--".
func FuzzLongFlags(f *testing.F) {
	f.Add("-config\x00f\x00sub\x00-present")
	f.Add("sub\x00--\x00-config=x")
	f.Add("-\x00-n\x00-12\x00-config=")
	root := testRoot()
	known := map[string]bool{"config": true, "count": true, "present": true}
	f.Fuzz(func(t *testing.T, joined string) {
		in := strings.Split(joined, "\x00")
		out := LongFlags(root, in)
		if len(out) != len(in) {
			t.Fatalf("LongFlags(%q) = %q: %d arguments, want %d", in, out, len(out), len(in))
		}
		seenEnd := false
		for i := range in {
			if out[i] == in[i] {
				if in[i] == "--" {
					seenEnd = true
				}
				continue
			}
			name, _, _ := strings.Cut(in[i][1:], "=")
			if seenEnd || out[i] != "-"+in[i] || !known[name] || strings.HasPrefix(in[i], "--") {
				t.Fatalf("LongFlags(%q)[%d] = %q from %q", in, i, out[i], in[i])
			}
		}
	})
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"nonsense"}, {"sub", "--frob"}, {"sub", "-n", "x"}} {
		root := testRoot()
		Configure(root, &strings.Builder{}, &strings.Builder{})
		err := Execute(t.Context(), root, args)
		if _, ok := err.(UsageError); !ok {
			t.Errorf("%q: error %v (%T), want a UsageError", args, err, err)
		}
	}
}
