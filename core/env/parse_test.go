package env

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// parseRecordJSON is ParseRecord as it was before the hand-written
// parser, on encoding/json's Decoder.Token: the oracle the parser is fuzzed
// against, and the "before" of BenchmarkReadTrace. It is kept as it was,
// including its one flaw: dec.More reports false at a '}' or ']', so a
// line with one of those after the object passes the trailing-data check.
func parseRecordJSON(line []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return r, fmt.Errorf("trace record: not a JSON object")
	}
	for i := 0; dec.More(); i++ {
		tok, err := dec.Token()
		if err != nil {
			return r, fmt.Errorf("trace record: %w", err)
		}
		key, _ := tok.(string)
		val, err := dec.Token()
		if err != nil {
			return r, fmt.Errorf("trace record: field %q: %w", key, err)
		}
		if _, ok := val.(json.Delim); ok {
			return r, fmt.Errorf("trace record: field %q: nested values are not part of the trace format", key)
		}
		switch i {
		case 0, 1, 2:
			want := [3]string{"time", "node", "kind"}[i]
			if key != want {
				return r, fmt.Errorf("trace record: field %d is %q, want %q", i+1, key, want)
			}
		}
		switch i {
		case 0:
			n, ok := val.(json.Number)
			if !ok {
				return r, fmt.Errorf("trace record: time is not a number")
			}
			if r.Time, err = n.Int64(); err != nil {
				return r, fmt.Errorf("trace record: time: %w", err)
			}
		case 1:
			s, ok := val.(string)
			if !ok {
				return r, fmt.Errorf("trace record: node is not a string")
			}
			r.Node = NodeID(s)
		case 2:
			s, ok := val.(string)
			if !ok {
				return r, fmt.Errorf("trace record: kind is not a string")
			}
			r.Kind = s
		default:
			f, err := fieldOfJSON(key, val)
			if err != nil {
				return r, err
			}
			r.Fields = append(r.Fields, f)
		}
	}
	if _, err := dec.Token(); err != nil {
		return r, fmt.Errorf("trace record: %w", err)
	}
	if r.Kind == "" {
		return r, fmt.Errorf("trace record: missing time, node or kind")
	}
	if dec.More() {
		return r, fmt.Errorf("trace record: trailing data")
	}
	return r, nil
}

func fieldOfJSON(key string, val any) (Field, error) {
	switch v := val.(type) {
	case string:
		return Str(key, v), nil
	case bool:
		return Bool(key, v), nil
	case nil:
		return Field{Key: key}, nil
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return Int(key, n), nil
		}
		if n, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return Uint(key, n), nil
		}
		f, err := v.Float64()
		if err != nil {
			return Field{}, fmt.Errorf("trace record: field %q: %w", key, err)
		}
		return Float(key, f), nil
	}
	return Field{}, fmt.Errorf("trace record: field %q: unsupported value %v", key, val)
}

// oracle is parseRecordJSON without its flaw: it also rejects a line with
// anything but whitespace after the object, as ParseRecord does.
func oracle(line []byte) (Record, error) {
	r, err := parseRecordJSON(line)
	if err != nil {
		return r, err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	var obj json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		return r, fmt.Errorf("oracle: accepted a line that is not JSON: %v", err)
	}
	if len(bytes.TrimLeft(line[dec.InputOffset():], " \t\r\n")) > 0 {
		return r, errors.New("trace record: trailing data")
	}
	return r, nil
}

// jsonSyntax reports whether err is one of encoding/json's syntax errors,
// whose wording the parser does not copy.
func jsonSyntax(err error) bool {
	var syn *json.SyntaxError
	return errors.As(err, &syn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// sameRecord reports how got differs from want, or "".
func sameRecord(got, want Record) string {
	switch {
	case got.Time != want.Time:
		return fmt.Sprintf("time %d, want %d", got.Time, want.Time)
	case got.Node != want.Node:
		return fmt.Sprintf("node %q, want %q", got.Node, want.Node)
	case got.Kind != want.Kind:
		return fmt.Sprintf("kind %q, want %q", got.Kind, want.Kind)
	case len(got.Fields) != len(want.Fields):
		return fmt.Sprintf("%d fields, want %d", len(got.Fields), len(want.Fields))
	}
	for i, g := range got.Fields {
		w := want.Fields[i]
		if g.Key != w.Key {
			return fmt.Sprintf("field %d is %q, want %q", i+1, g.Key, w.Key)
		}
		gv, wv := g.Value(), w.Value()
		gf, gok := gv.(float64)
		wf, wok := wv.(float64)
		if gok && wok && math.Float64bits(gf) == math.Float64bits(wf) {
			continue
		}
		if gok || wok || gv != wv {
			return fmt.Sprintf("field %q is %T(%#v), want %T(%#v)", g.Key, gv, gv, wv, wv)
		}
	}
	return ""
}

// FuzzParseRecordMatchesJSON checks the parser against encoding/json: it
// accepts a line exactly when the oracle does, returns the same record,
// and fails with the same message unless the line is not JSON at all.
func FuzzParseRecordMatchesJSON(f *testing.F) {
	golden, err := os.ReadFile("../../simnet/testdata/trace.golden.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for line := range bytes.Lines(golden) {
		f.Add(bytes.TrimSuffix(line, []byte("\n")))
	}
	for _, line := range shapes {
		f.Add([]byte(line))
	}
	const head = `{"time":1,"node":"n1","kind":"x"`
	for _, tail := range []string{
		`}`,
		`,"s":"\" \\ \/ \b \f \n \r \t \u0000 \u001f \u00e9 \u4e2D \uFFFD"}`,
		`,"pair":"\ud83d\ude42","lone":"\ud800","low":"\udc00x","swapped":"\ude42\ud83d","twohigh":"\ud800\ud800"}`,
		`,"bad":"\x80\xff \xc3( \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 é"}`,
		`,"k\u00e9y":1,"a":"\xff"}`,
		`,"i":-9223372036854775808,"j":9223372036854775807,"u":9223372036854775808,"m":18446744073709551615}`,
		`,"o":18446744073709551616,"n":-9223372036854775809,"big":123456789012345678901234567890}`,
		`,"z":0,"nz":-0,"f":0.5,"g":-1.25e-3,"h":1E+2,"k":1e400,"t":1e-400}`,
		`,"d":1.0,"e":2e0,"p":0.1e1}`,
		`,"b":true,"c":false,"n":null}`,
		`,"dup":1,"dup":"again","time":3}`,
		`,"a":01}`, `,"a":1.}`, `,"a":.5}`, `,"a":-}`, `,"a":1e}`, `,"a":+1}`, `,"a":0x1}`,
		`,"a":tru}`, `,"a":truex}`, `,"a":nul}`, `,"a":"\x"}`, `,"a":"\u12"}`, `,"a":"tab	"}`,
		`,"a":{}}`, `,"a":[]}`, `,"a":]}`, `,}`, `,,"a":1}`, `"a":1}`, `,"a" 1}`, `,"a":1`,
		`} `, "}\r\n\t", `}}`, `}]`, `} {}`, `}x`,
	} {
		f.Add([]byte(head + tail))
	}
	for _, line := range []string{
		"", " ", "{", "{}", "[1]", `"x"`, "\ufeff{}", "nul",
		" {\t\"time\" :\n1 ,\r\"node\": \"n1\" , \"kind\" : \"x\" , \"a\" : [ ] } ",
		" {\t\"time\" :\n1 ,\r\"node\": \"n1\" , \"kind\" : \"x\" , \"a\" : 1 } \n",
		"{\v\"time\":1,\"node\":\"n1\",\"kind\":\"x\"}", "{\"time\":1,\"node\":\"n1\",\"kind\":\"x\"}\f",
		"{\"time\":1,\u00a0\"node\":\"n1\",\"kind\":\"x\"}", "{\"time\":1,\"node\":\"n1\",\"kind\":\"x\"}\x00",
		`{"time":1.5,"node":"n1","kind":"x"}`, `{"time":-7,"node":"","kind":"x"}`,
		`{"time":1e3,"node":"n1","kind":"x"}`, `{"time":9223372036854775808,"node":"n1","kind":"x"}`,
		`{"time":1,"node":"n1","kind":""}`, `{"t\u0069me":1,"node":"n1","kind":"x"}`,
		`{"time":1,"node":null,"kind":"x"}`, `{"time":1,"node":"n1","kind":"x","a":{"b"`,
	} {
		f.Add([]byte(line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		got, err := ParseRecord(line)
		want, werr := oracle(line)
		switch {
		case err != nil && werr != nil:
			if !jsonSyntax(werr) && err.Error() != werr.Error() {
				t.Fatalf("ParseRecord(%q):\n error %v\nwant %v", line, err, werr)
			}
		case err != nil:
			t.Fatalf("ParseRecord(%q): %v; encoding/json accepts it", line, err)
		case werr != nil:
			t.Fatalf("ParseRecord(%q) accepts it; encoding/json: %v", line, werr)
		default:
			if diff := sameRecord(got, want); diff != "" {
				t.Fatalf("ParseRecord(%q): %s", line, diff)
			}
		}
	})
}

// TestParseRecordTrailingBrackets pins the one place where ParseRecord
// and the old parser differ on purpose: a '}' or ']' after the object is
// trailing data.
func TestParseRecordTrailingBrackets(t *testing.T) {
	for _, line := range []string{"}", "]", " }x", "]]"} {
		line := `{"time":1,"node":"n1","kind":"x"}` + line
		if _, err := parseRecordJSON([]byte(line)); err != nil {
			t.Errorf("the old parser rejects %q now: %v", line, err)
		}
		if _, err := ParseRecord([]byte(line)); err == nil || !strings.Contains(err.Error(), "trailing data") {
			t.Errorf("ParseRecord(%q) = %v, want trailing data", line, err)
		}
	}
}

// TestParseRecordStrings checks the decoding of strings against
// encoding/json's, one case at a time.
func TestParseRecordStrings(t *testing.T) {
	for _, s := range []string{
		``, `plain`, `\"\\\/\b\f\n\r\t`, `\u0041\u00e9\u4E2d`, `\ud83d\ude42`, `\ud83d`, `\ude42`,
		`\ud83d\u0041`, `\ud83dx`, `\ud800\ud800\udc00`, "\xff", "a\xc3", "\xed\xa0\x80", "é漢🙂", "\uFFFD",
	} {
		line := []byte(`{"time":0,"node":"` + s + `","kind":"k","v":"` + s + `"}`)
		var want string
		if err := json.Unmarshal([]byte(`"`+s+`"`), &want); err != nil {
			t.Fatal(err)
		}
		r, err := ParseRecord(line)
		if err != nil {
			t.Errorf("ParseRecord(%q): %v", line, err)
			continue
		}
		if v, _ := r.Str("v"); string(r.Node) != want || v != want {
			t.Errorf("%q decodes to node %q, value %q; want %q", s, r.Node, v, want)
		}
	}
}
