package env

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestAppendRecord(t *testing.T) {
	r := Record{Time: 1200, Node: "n3", Kind: "raft.state", Fields: []Field{
		Int("term", 4), Uint("hash", math.MaxUint64), Str("role", "leader"), Bool("up", true),
		Float("drift", 0.05), Float("bad", math.NaN()), Str("note", "a \"quoted\"\n\x01 é \xff"),
	}}
	got := string(AppendRecord(nil, &r))
	want := `{"time":1200,"node":"n3","kind":"raft.state","term":4,"hash":18446744073709551615,"role":"leader","up":true,"drift":0.05,"bad":null,"note":"a \"quoted\"\n\u0001 é �"}` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("not valid JSON")
	}
	back, err := ParseRecord([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if again := string(AppendRecord(nil, &back)); again != got {
		t.Fatalf("round trip changed the line:\n%s%s", got, again)
	}
	if v, ok := back.Uint("hash"); !ok || v != math.MaxUint64 {
		t.Errorf("Uint(hash) = %d, %v", v, ok)
	}
	if v, ok := back.Int("term"); !ok || v != 4 {
		t.Errorf("Int(term) = %d, %v", v, ok)
	}
	if v, ok := back.Str("role"); !ok || v != "leader" {
		t.Errorf("Str(role) = %q, %v", v, ok)
	}
}

func TestParseRecordRejects(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{``, "not a JSON object"},
		{`[1]`, "not a JSON object"},
		{`{"node":"n1","time":1,"kind":"x"}`, `field 1 is "node", want "time"`},
		{`{"time":"1","node":"n1","kind":"x"}`, "time is not a number"},
		{`{"time":1.5,"node":"n1","kind":"x"}`, "time"},
		{`{"time":1,"node":2,"kind":"x"}`, "node is not a string"},
		{`{"time":1,"node":"n1","kind":true}`, "kind is not a string"},
		{`{"time":1,"node":"n1"}`, "missing time, node or kind"},
		{`{"time":1,"node":"n1","kind":"x","a":{"b":1}}`, `field "a": nested values`},
		{`{"time":1,"node":"n1","kind":"x","a":[1]}`, `field "a": nested values`},
		{`{"time":1,"node":"n1","kind":"x"} {}`, "trailing data"},
		{`{"time":1,"node":"n1","kind":"x"`, "trace record"},
	} {
		_, err := ParseRecord([]byte(tc.line))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRecord(%q) = %v, want an error containing %q", tc.line, err, tc.want)
		}
	}
}

// FuzzAppendString checks that every string becomes valid JSON that
// decodes as encoding/json would decode its own encoding of the string.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x1f\x7f", "é漢字🙂", "\xff\xfe", "a\u2028b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, b, err)
		}
		std, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("AppendString(%q) decodes to %q, encoding/json's to %q", s, got, want)
		}
	})
}

// FuzzParseRecord checks that the parser never panics, and that whatever it
// accepts re-encodes canonically: parse(append(r)) gives back the same bytes.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"time":0,"node":"world","kind":"world.start","format":1,"seed":7}`))
	f.Add([]byte(`{"time":21139250,"node":"n1","kind":"net.recv","from":"n3","msg":"toy.gossip","id":5,"sent":20000000}`))
	f.Add([]byte(`{"time":1,"node":"n1","kind":"x","f":0.5,"b":false,"n":null,"u":18446744073709551615}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRecord(line)
		if err != nil {
			return
		}
		once := AppendRecord(nil, &r)
		r2, err := ParseRecord(once)
		if err != nil {
			t.Fatalf("re-encoded record does not parse: %v\n%s", err, once)
		}
		if twice := AppendRecord(nil, &r2); !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not canonical:\n%s%s", once, twice)
		}
	})
}

func TestSplitReadsJoin(t *testing.T) {
	for _, ids := range [][]NodeID{nil, {"n1"}, {"n1", "n2", "n3"}} {
		if got := Split(Join(ids)); len(got) != len(ids) || Join(got) != Join(ids) {
			t.Errorf("Split(Join(%v)) = %v", ids, got)
		}
	}
	if got := Split(",n1,,n2,"); Join(got) != "n1,n2" {
		t.Errorf("empty names kept: %v", got)
	}
}
