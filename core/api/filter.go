package api

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/model"
)

// Op is how a filter compares a field's value with its own.
type Op uint8

// The operators. Their values are part of the filter encoding, which
// travels between instances: never renumber one, only add.
const (
	OpEq     Op = iota + 1 // equal
	OpNe                   // not equal (a null or absent value is not equal)
	OpGt                   // greater than
	OpGe                   // greater than or equal
	OpLt                   // less than
	OpLe                   // less than or equal
	OpIn                   // equal to one of a list
	OpPrefix               // a string that starts with the value

	lastOp = OpPrefix
)

var opNames = [...]string{OpEq: "eq", OpNe: "ne", OpGt: "gt", OpGe: "ge", OpLt: "lt", OpLe: "le", OpIn: "in", OpPrefix: "prefix"}

func (o Op) String() string {
	if o >= OpEq && o <= lastOp {
		return opNames[o]
	}
	return fmt.Sprintf("op%d", uint8(o))
}

// parseOp is the inverse of Op.String.
func parseOp(s string) (Op, bool) {
	for o := OpEq; o <= lastOp; o++ {
		if opNames[o] == s {
			return o, true
		}
	}
	return 0, false
}

// Kind is how a filter's values compare: by the kind of the model field
// they are compared with.
type Kind uint8

// The kinds. Their values are part of the filter encoding.
const (
	KindString    Kind = iota + 1 // strings and enums, byte by byte
	KindInt                       // int64
	KindFloat                     // float64 (an int value compares as a float)
	KindBool                      // bool
	KindBytes                     // standard base64 text, equal or not
	KindTimestamp                 // RFC 3339 text, by the time it names
	KindDecimal                   // decimal text, by the number it names
	KindRef                       // a reference's value as text, as a key is written

	lastKind = KindRef
)

// Limits of a filter.
const (
	// MaxFilters bounds the filters of one query.
	MaxFilters = 32
	// MaxIn bounds the values of an in list.
	MaxIn = 100
	// MaxPath bounds the segments of a field path (a model nests types 16
	// deep).
	MaxPath = 16
	// MaxFilterBytes bounds the encoded filters of one query
	// (kv.MaxListFilter).
	MaxFilterBytes = 16 << 10
)

// Filter is one condition of a query on one field. Values hold, by Kind:
// string (string, bytes in canonical base64, decimal in canonical text,
// ref), int64, float64, bool or time.Time (timestamp); one value, or for
// OpIn one to MaxIn.
type Filter struct {
	// Param is the query parameter the filter came from, for messages;
	// it does not travel (a decoded filter has none).
	Param  string
	Path   []string // the field, and the fields or map keys inside it
	Op     Op
	Kind   Kind
	Values []any
}

// Filters are a query's conditions, all of which an object must meet.
type Filters []Filter

// Match reports whether obj, an object decoded from its JSON
// (model.Decode) in the latest shape of its type, meets every filter.
func (fs Filters) Match(obj model.Object) bool {
	for i := range fs {
		if !fs[i].Match(obj) {
			return false
		}
	}
	return true
}

// Match reports whether obj meets the filter. A field that is null or
// absent (or inside a null record) meets ne and nothing else, and so
// does a value of another kind than the filter's.
func (f *Filter) Match(obj model.Object) bool {
	var v any = map[string]any(obj)
	for _, seg := range f.Path {
		m, ok := v.(map[string]any)
		if !ok {
			v = nil
			break
		}
		v = m[seg]
	}
	switch f.Op {
	case OpNe:
		c, ok := f.compare(v, f.Values[0])
		return !ok || c != 0
	case OpIn:
		for _, want := range f.Values {
			if c, ok := f.compare(v, want); ok && c == 0 {
				return true
			}
		}
		return false
	case OpPrefix:
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, f.Values[0].(string))
	}
	c, ok := f.compare(v, f.Values[0])
	if !ok {
		return false
	}
	switch f.Op {
	case OpEq:
		return c == 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	}
	return false
}

// compare compares a stored value v with a filter's value want: ok is
// false when v is null or of another kind.
func (f *Filter) compare(v, want any) (int, bool) {
	switch f.Kind {
	case KindString, KindBytes:
		s, ok := v.(string)
		return strings.Compare(s, want.(string)), ok
	case KindInt:
		i, ok := v.(int64)
		return cmpOrdered(i, want.(int64)), ok
	case KindFloat:
		var x float64
		switch n := v.(type) {
		case float64:
			x = n
		case int64:
			x = float64(n)
		default:
			return 0, false
		}
		return cmpOrdered(x, want.(float64)), true
	case KindBool:
		b, ok := v.(bool)
		if !ok {
			return 0, false
		}
		if b == want.(bool) {
			return 0, true
		}
		return 1, true
	case KindTimestamp:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, false
		}
		return t.Compare(want.(time.Time)), true
	case KindDecimal:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		d, err := model.CanonicalDecimal(s)
		if err != nil {
			return 0, false
		}
		return cmpDecimal(d, want.(string)), true
	case KindRef:
		s, ok := refText(v)
		return strings.Compare(s, want.(string)), ok
	}
	return 0, false
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// refText is a stored reference's value as a key is written in a URL
// (model.Type.ParseKey): a string as itself, a number or a bool in its
// usual text. A reference to a type with a composite key holds a record,
// which has no single text.
func refText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// Encode is the filters' encoding, which a list-objects request carries
// to the instances that evaluate it (DecodeFilters reads it); no filters
// encode as nothing. Numbers are uvarints unless marked, strings a
// uvarint length and the bytes:
//
//	filters: version byte (1) | count | filter...
//	filter:  op byte | kind byte | path count | segment... | value count | value...
//	value:   string (string, bytes, decimal, ref) | varint (int) |
//	         8 bytes big-endian IEEE 754 (float) | byte 0 or 1 (bool) |
//	         seconds varint, nanoseconds (timestamp)
//
// The encoding is canonical: equal filters encode to equal bytes, and the
// cursor of a listing is bound to them (Query.Cursor).
func (fs Filters) Encode() []byte {
	if len(fs) == 0 {
		return nil
	}
	b := []byte{filterVersion}
	b = binary.AppendUvarint(b, uint64(len(fs)))
	for i := range fs {
		b = fs[i].appendTo(b)
	}
	return b
}

// appendTo appends the filter's encoding (Filters.Encode).
func (f *Filter) appendTo(b []byte) []byte {
	b = append(b, byte(f.Op), byte(f.Kind))
	b = binary.AppendUvarint(b, uint64(len(f.Path)))
	for _, seg := range f.Path {
		b = appendString(b, seg)
	}
	b = binary.AppendUvarint(b, uint64(len(f.Values)))
	for _, v := range f.Values {
		b = appendValue(b, f.Kind, v)
	}
	return b
}

const filterVersion = 1

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, k Kind, v any) []byte {
	switch k {
	case KindInt:
		return binary.AppendVarint(b, v.(int64))
	case KindFloat:
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v.(float64)))
	case KindBool:
		if v.(bool) {
			return append(b, 1)
		}
		return append(b, 0)
	case KindTimestamp:
		t := v.(time.Time)
		b = binary.AppendVarint(b, t.Unix())
		return binary.AppendUvarint(b, uint64(t.Nanosecond()))
	}
	return appendString(b, v.(string))
}

// DecodeFilters reads what Filters.Encode wrote, and checks it as
// ParseQuery would have made it: known operators and kinds, an operator
// the kind takes, the bounds on filters, paths and lists, values in their
// canonical forms, and nothing else after it.
func DecodeFilters(b []byte) (Filters, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) > MaxFilterBytes {
		return nil, fmt.Errorf("api: decoding filters: %d bytes, over %d", len(b), MaxFilterBytes)
	}
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != filterVersion {
		return nil, fmt.Errorf("api: decoding filters: version %d, this build reads %d", v, filterVersion)
	}
	n := d.count(MaxFilters, "filters")
	if d.err == nil && n == 0 {
		d.fail(errors.New("no filters: they encode as nothing"))
	}
	var fs Filters
	for i := 0; i < n && d.err == nil; i++ {
		f := Filter{Op: Op(d.byte()), Kind: Kind(d.byte())}
		np := d.count(MaxPath, "path segments")
		for range np {
			seg := d.string()
			if d.err == nil && seg == "" {
				d.fail(errors.New("an empty path segment"))
			}
			f.Path = append(f.Path, seg)
		}
		nv := d.count(MaxIn, "values")
		for range nv {
			f.Values = append(f.Values, d.value(f.Kind))
		}
		if d.err != nil {
			break
		}
		if err := f.check(); err != nil {
			d.fail(err)
			break
		}
		fs = append(fs, f)
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes", len(d.b)))
	}
	if d.err != nil {
		return nil, fmt.Errorf("api: decoding filters: %w", d.err)
	}
	return fs, nil
}

// check checks a decoded filter's operator, kind, path and values.
func (f *Filter) check() error {
	switch {
	case f.Op < OpEq || f.Op > lastOp:
		return fmt.Errorf("unknown operator %d", uint8(f.Op))
	case f.Kind < KindString || f.Kind > lastKind:
		return fmt.Errorf("unknown kind %d", uint8(f.Kind))
	case !takes(f.Kind, f.Op):
		return fmt.Errorf("kind %d does not take %s", uint8(f.Kind), f.Op)
	case len(f.Path) == 0:
		return errors.New("a filter without its field")
	case f.Op == OpIn && len(f.Values) == 0:
		return errors.New("an empty in list")
	case f.Op != OpIn && len(f.Values) != 1:
		return fmt.Errorf("%s with %d values, want 1", f.Op, len(f.Values))
	}
	return nil
}

// takes reports whether a filter of kind k may compare with op.
func takes(k Kind, op Op) bool {
	switch op {
	case OpEq, OpNe, OpIn:
		return true
	case OpPrefix:
		return k == KindString
	}
	return k == KindString || k == KindInt || k == KindFloat || k == KindTimestamp || k == KindDecimal
}

// decoder reads the filter encoding; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(errors.New("truncated"))
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errors.New("truncated"))
		return 0
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		d.fail(errors.New("a number is not minimally encoded"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errors.New("truncated"))
		return 0
	}
	if n != len(binary.AppendVarint(nil, v)) {
		d.fail(errors.New("a number is not minimally encoded"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of at most max items.
func (d *decoder) count(max int, what string) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(max) {
		d.fail(fmt.Errorf("%d %s, over %d", n, what, max))
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("a string of %d bytes runs past the end (%d left)", n, len(d.b)))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// value reads a value of kind k, which must be in its canonical form.
func (d *decoder) value(k Kind) any {
	switch k {
	case KindInt:
		return d.varint()
	case KindFloat:
		if d.err != nil || len(d.b) < 8 {
			d.fail(errors.New("truncated"))
			return 0.0
		}
		x := math.Float64frombits(binary.BigEndian.Uint64(d.b))
		d.b = d.b[8:]
		if math.IsNaN(x) || math.IsInf(x, 0) || (x == 0 && math.Signbit(x)) {
			d.fail(fmt.Errorf("float %v: want a finite number, and 0 for -0", x))
		}
		return x
	case KindBool:
		switch c := d.byte(); c {
		case 0, 1:
			return c == 1
		default:
			d.fail(fmt.Errorf("bool byte %d", c))
			return false
		}
	case KindTimestamp:
		sec := d.varint()
		ns := d.uvarint()
		if d.err != nil {
			return time.Time{}
		}
		t := time.Unix(sec, int64(ns)).UTC()
		if ns >= 1e9 || t.Year() < 0 || t.Year() > 9999 {
			d.fail(fmt.Errorf("timestamp %d.%09d is out of range", sec, ns))
		}
		return t
	}
	s := d.string()
	if d.err != nil {
		return s
	}
	var canonical string
	switch k {
	case KindBytes:
		canonical, _ = canonicalBytes(s)
	case KindDecimal:
		canonical, _ = model.CanonicalDecimal(s)
	default:
		canonical = s
	}
	if canonical != s {
		d.fail(fmt.Errorf("%s is not in its canonical form", quote(s)))
	}
	return s
}
