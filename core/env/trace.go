package env

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Field is one named value of a trace event. Build it with Int, Str, Bool
// or Float; the trace keeps fields in the order they were given.
type Field struct {
	Key  string
	str  string
	num  int64 // an Int, a Uint's or a Float's bits, or a Bool as 0 or 1
	kind fieldKind
}

type fieldKind uint8

const (
	kindInt fieldKind = iota + 1
	kindUint
	kindStr
	kindBool
	kindFloat
)

// Int is an integer field. Durations and virtual times are recorded as
// integer nanoseconds.
func Int(key string, v int64) Field { return Field{Key: key, kind: kindInt, num: v} }

// Uint is an unsigned integer field, for values such as seeds and hashes
// that use all 64 bits.
func Uint(key string, v uint64) Field { return Field{Key: key, kind: kindUint, num: int64(v)} }

// Str is a string field.
func Str(key, v string) Field { return Field{Key: key, kind: kindStr, str: v} }

// Bool is a boolean field.
func Bool(key string, v bool) Field {
	f := Field{Key: key, kind: kindBool}
	if v {
		f.num = 1
	}
	return f
}

// Float is a floating-point field. NaN and infinities, which JSON cannot
// carry, are recorded as null.
func Float(key string, v float64) Field {
	return Field{Key: key, kind: kindFloat, num: int64(math.Float64bits(v))}
}

func (f *Field) float() float64 { return math.Float64frombits(uint64(f.num)) }

// Value returns the field's value: int64, uint64, string, bool, float64,
// or nil.
func (f Field) Value() any {
	switch f.kind {
	case kindInt:
		return f.num
	case kindUint:
		return uint64(f.num)
	case kindStr:
		return f.str
	case kindBool:
		return f.num != 0
	case kindFloat:
		if v := f.float(); !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v
		}
	}
	return nil
}

// Record is one trace event: a JSON object on one line whose first three
// fields are always time (virtual nanoseconds since the start of the run),
// node (where it happened; "world" for the world's own events) and kind,
// followed by the kind's own fields in a fixed order.
type Record struct {
	Time   int64
	Node   NodeID
	Kind   string
	Fields []Field
}

// WorldNode is the node name of events that belong to the world rather than
// to one process: faults, network changes.
const WorldNode NodeID = "world"

// AppendRecord appends r's JSON line, newline included, to b. The encoding
// is canonical: the same record always yields the same bytes, which is what
// trace hashes rely on.
func AppendRecord(b []byte, r *Record) []byte {
	return AppendLine(b, r.Time, r.Node, r.Kind, r.Fields)
}

// AppendLine is AppendRecord without building a Record.
func AppendLine(b []byte, time int64, node NodeID, kind string, fields []Field) []byte {
	b = append(b, `{"time":`...)
	b = strconv.AppendInt(b, time, 10)
	b = append(b, `,"node":`...)
	b = AppendString(b, string(node))
	b = append(b, `,"kind":`...)
	b = AppendString(b, kind)
	for i := range fields {
		b = append(b, ',')
		b = AppendString(b, fields[i].Key)
		b = append(b, ':')
		b = appendValue(b, &fields[i])
	}
	return append(b, '}', '\n')
}

func appendValue(b []byte, f *Field) []byte {
	switch f.kind {
	case kindInt:
		return strconv.AppendInt(b, f.num, 10)
	case kindUint:
		return strconv.AppendUint(b, uint64(f.num), 10)
	case kindStr:
		return AppendString(b, f.str)
	case kindBool:
		return strconv.AppendBool(b, f.num != 0)
	case kindFloat:
		if v := f.float(); !math.IsNaN(v) && !math.IsInf(v, 0) {
			return strconv.AppendFloat(b, v, 'g', -1, 64)
		}
	}
	return append(b, "null"...)
}

// AppendString appends s as a JSON string. Each byte of invalid UTF-8
// becomes U+FFFD, as in encoding/json, so every trace line is valid JSON;
// it is written as the character itself, not an escape, so that a string
// read back from the trace encodes to the same bytes.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// Get returns the record's field named key.
func (r *Record) Get(key string) (Field, bool) {
	for _, f := range r.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// Int returns the integer field named key, or 0 and false.
func (r *Record) Int(key string) (int64, bool) {
	f, ok := r.Get(key)
	if !ok || f.kind != kindInt {
		return 0, false
	}
	return f.num, true
}

// Uint returns the unsigned integer field named key, or 0 and false. Values
// that fit in an int64 are decoded as Int fields and are accepted here too
// when not negative.
func (r *Record) Uint(key string) (uint64, bool) {
	f, ok := r.Get(key)
	switch {
	case ok && f.kind == kindUint, ok && f.kind == kindInt && f.num >= 0:
		return uint64(f.num), true
	}
	return 0, false
}

// Str returns the string field named key, or "" and false.
func (r *Record) Str(key string) (string, bool) {
	f, ok := r.Get(key)
	if !ok || f.kind != kindStr {
		return "", false
	}
	return f.str, true
}

// Bool returns the boolean field named key, or false and false.
func (r *Record) Bool(key string) (bool, bool) {
	f, ok := r.Get(key)
	if !ok || f.kind != kindBool {
		return false, false
	}
	return f.num != 0, true
}

// Float returns the number field named key, or 0 and false. A float
// without a fraction reads back from JSON as an integer, so integers are
// accepted too.
func (r *Record) Float(key string) (float64, bool) {
	f, ok := r.Get(key)
	switch {
	case ok && f.kind == kindFloat:
		return f.float(), true
	case ok && f.kind == kindInt:
		return float64(f.num), true
	case ok && f.kind == kindUint:
		return float64(uint64(f.num)), true
	}
	return 0, false
}
