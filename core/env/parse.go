package env

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ParseRecord decodes one trace line, as AppendRecord writes it: an object
// whose first keys are time, node and kind, and whose other values are
// integers, strings, booleans, numbers or null. It reads any JSON of that
// shape as encoding/json would (whitespace between tokens, every escape,
// invalid UTF-8 and lone surrogates as U+FFFD), and rejects nested values
// and anything after the object.
func ParseRecord(line []byte) (Record, error) {
	var (
		p parser
		r Record
	)
	if err := p.record(line, &r); err != nil {
		return Record{}, err
	}
	if len(p.fields) > 0 {
		r.Fields = slices.Clip(p.fields)
	}
	return r, nil
}

// parser is a scanner for the one shape a trace line has: a flat JSON
// object. It replaced encoding/json's Decoder.Token, which took 5 µs a
// line and allocated for every token: reading traces was most of the time
// of a simulated run. Its buffers are reused from line to line.
type parser struct {
	line   []byte
	pos    int
	text   []byte  // a string's bytes after decoding its escapes
	fields []Field // the fields of the line being read

	// strs, when set, makes the record's strings; otherwise each is
	// allocated on its own.
	strs *stringTable

	// The value scalar read last: its kind, a string's decoded bytes
	// (valid until the next string) or a number's text, and for a number
	// whether it has a fraction or an exponent, and the value of its
	// integer part if that has at most 19 digits (which cannot overflow).
	val      valueKind
	b        []byte
	float    bool
	mag      uint64
	magExact bool
}

type valueKind uint8

const (
	valString valueKind = iota + 1
	valNumber
	valTrue
	valFalse
	valNull
)

var commonKeys = [3]string{"time", "node", "kind"}

// record parses line into r, but for r.Fields: it appends the fields to
// p.fields. The checks come in the order encoding/json's tokens used to
// meet them, so that a line that is wrong in two ways gets the same
// message.
func (p *parser) record(line []byte, r *Record) error {
	p.line, p.pos, p.fields = line, 0, p.fields[:0]
	if p.next() != '{' {
		return errors.New("trace record: not a JSON object")
	}
	p.pos++
	if p.next() == '}' {
		p.pos++
	} else if err := p.members(r); err != nil {
		return err
	}
	if r.Kind == "" {
		return errors.New("trace record: missing time, node or kind")
	}
	if p.next() >= 0 {
		return errors.New("trace record: trailing data")
	}
	return nil
}

// members reads the object's members, up to its closing brace.
func (p *parser) members(r *Record) error {
	for i := 0; ; i++ {
		if p.next() != '"' {
			return fmt.Errorf("trace record: %w", p.syntax("want a field name"))
		}
		kb, err := p.string()
		if err != nil {
			return fmt.Errorf("trace record: %w", err)
		}
		var key string
		if i < len(commonKeys) && string(kb) == commonKeys[i] {
			key = commonKeys[i]
		} else {
			key = p.intern(kb)
		}
		if p.next() != ':' {
			return fmt.Errorf("trace record: field %q: %w", key, p.syntax("want ':'"))
		}
		p.pos++
		if c := p.next(); c == '{' || c == '[' {
			return fmt.Errorf("trace record: field %q: nested values are not part of the trace format", key)
		}
		if err := p.scalar(); err != nil {
			return fmt.Errorf("trace record: field %q: %w", key, err)
		}
		if i < len(commonKeys) && key != commonKeys[i] {
			return fmt.Errorf("trace record: field %d is %q, want %q", i+1, key, commonKeys[i])
		}
		switch i {
		case 0:
			if p.val != valNumber {
				return errors.New("trace record: time is not a number")
			}
			n, ok := p.int64()
			if !ok {
				_, err := strconv.ParseInt(string(p.b), 10, 64)
				return fmt.Errorf("trace record: time: %w", err)
			}
			r.Time = n
		case 1:
			if p.val != valString {
				return errors.New("trace record: node is not a string")
			}
			r.Node = NodeID(p.intern(p.b))
		case 2:
			if p.val != valString {
				return errors.New("trace record: kind is not a string")
			}
			r.Kind = p.intern(p.b)
		default:
			if err := p.field(key); err != nil {
				return err
			}
		}
		c := p.next()
		if c == '}' {
			p.pos++
			return nil
		}
		if c != ',' {
			return fmt.Errorf("trace record: %w", p.syntax(fmt.Sprintf("want ',' or '}' after field %q", key)))
		}
		p.pos++
	}
}

// field appends the field key with the value scalar read. A number becomes
// an Int if it is an integer that fits, else a Uint if it fits that, else
// a Float.
func (p *parser) field(key string) error {
	// The field is filled in place: building it and appending a copy
	// costs a bulk write barrier while the GC runs.
	p.fields = append(p.fields, Field{Key: key})
	f := &p.fields[len(p.fields)-1]
	switch p.val {
	case valString:
		f.kind = kindStr
		if len(p.b) <= maxInterned {
			f.str = p.intern(p.b)
		} else {
			f.str = p.copy(p.b)
		}
	case valTrue:
		f.kind, f.num = kindBool, 1
	case valFalse:
		f.kind = kindBool
	case valNumber:
		if n, ok := p.int64(); ok {
			f.kind, f.num = kindInt, n
		} else if u, ok := p.uint64(); ok {
			f.kind, f.num = kindUint, int64(u)
		} else {
			v, err := strconv.ParseFloat(string(p.b), 64)
			if err != nil {
				return fmt.Errorf("trace record: field %q: %w", key, err)
			}
			*f = Float(key, v)
		}
	}
	return nil
}

// int64 returns the number scalar read if it is an integer in the range of
// int64.
func (p *parser) int64() (int64, bool) {
	if p.float {
		return 0, false
	}
	neg := p.b[0] == '-'
	u, ok := p.mag, p.magExact
	if !ok {
		u, ok = magnitude(bytes.TrimPrefix(p.b, []byte("-")))
	}
	switch {
	case !ok:
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	case neg && u <= -math.MinInt64:
		return -int64(u), true
	}
	return 0, false
}

// uint64 returns the number scalar read if it is an integer in the range
// of uint64.
func (p *parser) uint64() (uint64, bool) {
	if p.float || p.b[0] == '-' {
		return 0, false
	}
	if p.magExact {
		return p.mag, true
	}
	return magnitude(p.b)
}

// magnitude returns the value of the decimal digits b, or false if it
// overflows a uint64.
func magnitude(b []byte) (uint64, bool) {
	if len(b) > 20 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	return u, true
}

// scalar reads the value at p.pos, which is not an object or an array.
func (p *parser) scalar() error {
	var err error
	switch c := p.next(); {
	case c == '"':
		p.val = valString
		p.b, err = p.string()
	case c == '-' || '0' <= c && c <= '9':
		p.val = valNumber
		err = p.number()
	case c == 't':
		p.val = valTrue
		err = p.literal("true")
	case c == 'f':
		p.val = valFalse
		err = p.literal("false")
	case c == 'n':
		p.val = valNull
		err = p.literal("null")
	default:
		err = p.syntax("want a value")
	}
	return err
}

func (p *parser) literal(word string) error {
	for i := range len(word) {
		if p.pos == len(p.line) || p.line[p.pos] != word[i] {
			return p.syntax("want " + word)
		}
		p.pos++
	}
	return nil
}

// number reads a number in JSON's grammar,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and the value of its
// integer part on the way.
func (p *parser) number() error {
	line, start := p.line, p.pos
	i := start
	if line[i] == '-' {
		i++
	}
	var u uint64
	first := i
	if i < len(line) && line[i] == '0' {
		i++
	} else {
		for i < len(line) && '0' <= line[i] && line[i] <= '9' {
			u = u*10 + uint64(line[i]-'0')
			i++
		}
		if i == first {
			p.pos = i
			return p.syntax("want a digit")
		}
	}
	p.mag, p.magExact, p.float = u, i-first <= 19, false
	if i < len(line) && line[i] == '.' {
		i++
		p.float = true
		if i = digits(line, i); i < 0 {
			p.pos = -i - 1
			return p.syntax("want a digit after '.'")
		}
	}
	if i < len(line) && (line[i] == 'e' || line[i] == 'E') {
		i++
		p.float = true
		if i < len(line) && (line[i] == '+' || line[i] == '-') {
			i++
		}
		if i = digits(line, i); i < 0 {
			p.pos = -i - 1
			return p.syntax("want a digit in the exponent")
		}
	}
	p.pos = i
	p.b = line[start:i]
	return nil
}

// digits returns the end of the digits at line[i:], or -i-1 if there are
// none.
func digits(line []byte, i int) int {
	j := i
	for j < len(line) && '0' <= line[j] && line[j] <= '9' {
		j++
	}
	if j == i {
		return -i - 1
	}
	return j
}

// plain marks the bytes that stand for themselves in a JSON string.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// string reads the JSON string at p.pos. The bytes it returns alias
// p.line or p.text and are valid until the next call.
func (p *parser) string() ([]byte, error) {
	line := p.line
	start := p.pos + 1
	i := start
	for i < len(line) {
		c := line[i]
		if plain[c] {
			i++
			continue
		}
		if c == '"' {
			p.pos = i + 1
			return line[start:i], nil
		}
		if c < utf8.RuneSelf {
			break
		}
		r, size := utf8.DecodeRune(line[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	return p.decode(start, i)
}

// decode is string's slow path, for a string with escapes or invalid
// UTF-8, from its byte i on. It decodes as encoding/json does: each byte
// of invalid UTF-8 and each lone surrogate becomes U+FFFD.
func (p *parser) decode(start, i int) ([]byte, error) {
	line := p.line
	b := append(p.text[:0], line[start:i]...)
	for i < len(line) {
		c := line[i]
		switch {
		case c == '"':
			p.pos = i + 1
			p.text = b
			return b, nil
		case c == '\\' && i+1 < len(line):
			switch e := line[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(line[i+2:])
				if !ok {
					p.pos = i + 2
					for p.pos < min(i+6, len(line)) && isHex(line[p.pos]) {
						p.pos++
					}
					return nil, p.syntax(`want four hex digits after \u`)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if len(line)-i >= 2 && line[i] == '\\' && line[i+1] == 'u' {
						if r, ok := hex4(line[i+2:]); ok {
							r2 = r
						}
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				p.pos = i + 1
				return nil, p.syntax(`want one of "\/bfnrtu after \`)
			}
			i += 2
		case c < 0x20:
			p.pos = i
			return nil, p.syntax("want the rest of the string (control characters must be escaped)")
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(line[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, line[i:i+size]...)
			}
			i += size
		}
	}
	p.pos = len(line)
	return nil, p.syntax("want the closing quote of the string")
}

// hex4 decodes the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// next skips JSON whitespace and returns the byte at p.pos, or -1 at the
// end of the line.
func (p *parser) next() int {
	for p.pos < len(p.line) {
		c := p.line[p.pos]
		if c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return int(c)
		}
		p.pos++
	}
	return -1
}

// syntax reports a syntax error at p.pos.
func (p *parser) syntax(want string) error {
	if p.pos >= len(p.line) {
		return fmt.Errorf("unexpected end of line, %s", want)
	}
	return fmt.Errorf("column %d: unexpected %q, %s", p.pos+1, p.line[p.pos], want)
}

// intern returns b as a string, shared with earlier equal ones when the
// parser has a string table.
func (p *parser) intern(b []byte) string {
	if p.strs == nil {
		return string(b)
	}
	return p.strs.intern(b)
}

// copy returns b as a string.
func (p *parser) copy(b []byte) string {
	if p.strs == nil {
		return string(b)
	}
	return p.strs.copy(b)
}
