package scenario

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that its errors have the
// documented shape, and that whatever it accepts round-trips through
// Marshal.
func FuzzParse(f *testing.F) {
	for _, data := range validFiles(f) {
		f.Add(data)
	}
	for _, tc := range malformed {
		f.Add([]byte(tc.file))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse returned a scenario with its error %v", err)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 || len(list) > maxErrors+1 {
				t.Fatalf("error %T %v is not an ErrorList of 1..%d", err, err, maxErrors+1)
			}
			for i, e := range list {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Msg == "" || (i > 0 && e.Line < list[i-1].Line) {
					t.Fatalf("malformed error %d: %#v", i, e)
				}
				if !strings.HasPrefix(e.Error(), "fuzz.yaml:") {
					t.Fatalf("error %q does not start with the file", e.Error())
				}
			}
			return
		}
		out := Marshal(s)
		s2, err := Parse("resolved.yaml", out)
		if err != nil {
			t.Fatalf("Parse(Marshal(s)): %v\ninput:\n%s\nmarshalled:\n%s", err, data, out)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("Parse(Marshal(s)) != s\n%#v\n%#v\ninput:\n%s\nmarshalled:\n%s", s, s2, data, out)
		}
		if again := Marshal(s2); !bytes.Equal(again, out) {
			t.Fatalf("Marshal is not stable:\n%s\n---\n%s", out, again)
		}
	})
}

// FuzzMarshalDescription checks that Marshal writes any text Parse could
// have read as a description so that it reads back the same.
func FuzzMarshalDescription(f *testing.F) {
	for _, d := range []string{"", "plain", "two\nlines\n", "\t\n", " lead", "trail ", "a\r\nb", "\x00", "\u2028", "# not a comment", "\n x", "\"'", "\ufeffbom"} {
		f.Add(d)
	}
	base, err := Parse("base.yaml", []byte("name: base\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, d string) {
		if !utf8.ValidString(d) {
			return
		}
		s := *base
		s.Description = d
		out := Marshal(&s)
		got, err := Parse("resolved.yaml", out)
		if err != nil {
			t.Fatalf("description %q: %v\n%s", d, err, out)
		}
		if got.Description != d {
			t.Fatalf("description %q read back as %q\n%s", d, got.Description, out)
		}
	})
}
