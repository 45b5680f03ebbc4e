package live

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/shoaldb/shoal/core/env"
)

// A peer connection carries frames:
//
//	header: magic "shl" (3 bytes) | version (1 byte) | body length (uint32, big-endian)
//	body:   from (uvarint-length string) | to (uvarint-length string) | message (EncodeMessage)
const (
	// FrameVersion is the version of the frame format this build speaks.
	FrameVersion = 1
	// MaxFrameSize bounds a frame's body unless the transport says
	// otherwise. A raft snapshot travels as one message holding the
	// group's whole state machine (its values and dedup table), so the
	// limit must exceed the largest state a replicaset is expected to hold;
	// it still stops a confused or hostile peer from making a reader
	// allocate without limit.
	MaxFrameSize = 64 << 20
)

const (
	frameMagic  = "shl"
	frameHeader = 8
	// frameChunk is how much of a large body ReadFrame allocates before
	// the bytes arrive: a header that claims a body of MaxFrameSize and is
	// followed by nothing costs this much, not the claimed size.
	frameChunk = 64 << 10
)

// Frame is one message between two nodes. From and To are node names, or
// a client of a node ("n1/api3").
type Frame struct {
	From, To env.NodeID
	Msg      env.Message
}

// Reasons a frame is refused, as FrameError.Reason and the transport's
// counters name them.
const (
	ReasonBadMagic   = "bad magic"
	ReasonBadVersion = "bad version"
	ReasonTooLarge   = "too large"
	ReasonMalformed  = "malformed"
)

// FrameError is a frame ReadFrame refused: Reason classifies it (one of
// the Reason constants), Err says what was wrong.
type FrameError struct {
	Reason string
	Err    error
}

func (e *FrameError) Error() string { return e.Err.Error() }
func (e *FrameError) Unwrap() error { return e.Err }

// AppendFrame appends f's wire form to b.
func AppendFrame(b []byte, f Frame) ([]byte, error) {
	start := len(b)
	b = append(b, frameMagic...)
	b = append(b, FrameVersion, 0, 0, 0, 0)
	b = appendWireString(b, string(f.From))
	b = appendWireString(b, string(f.To))
	b, err := EncodeMessage(b, f.Msg)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - start - frameHeader
	if uint64(n) > math.MaxUint32 {
		return b[:start], fmt.Errorf("live: a frame of %d bytes cannot be encoded", n)
	}
	binary.BigEndian.PutUint32(b[start+4:], uint32(n))
	return b, nil
}

// ReadFrame reads one frame; max bounds the body. It returns io.EOF only
// when r ends cleanly between frames, io.ErrUnexpectedEOF when it ends
// inside one, and a *FrameError for a frame it refuses: bad magic (and
// the bytes that came instead), an unsupported version, a body that
// exceeds max, or a malformed body.
func ReadFrame(r *bufio.Reader, max int) (Frame, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Frame{}, err
	}
	if string(h[:3]) != frameMagic {
		return Frame{}, &FrameError{ReasonBadMagic, fmt.Errorf("live: bad frame magic %q, want %q", h[:3], frameMagic)}
	}
	if h[3] != FrameVersion {
		return Frame{}, &FrameError{ReasonBadVersion, fmt.Errorf("live: unsupported frame version %d (this build speaks %d)", h[3], FrameVersion)}
	}
	n := uint64(binary.BigEndian.Uint32(h[4:]))
	if n > uint64(max) {
		return Frame{}, &FrameError{ReasonTooLarge, fmt.Errorf("live: frame of %d bytes exceeds the limit of %d", n, max)}
	}
	body, err := readBody(r, int(n))
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	f, err := decodeFrameBody(body)
	if err != nil {
		return Frame{}, &FrameError{ReasonMalformed, fmt.Errorf("live: malformed frame of %d bytes: %w", n, err)}
	}
	return f, nil
}

// readBody reads n bytes, allocating as they arrive rather than all at
// once, so that a length that lies costs no more than the bytes sent.
func readBody(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, frameChunk))
	for len(b) < n {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(2*cap(b), n))
			copy(grown, b)
			b = grown
		}
		k, err := io.ReadFull(r, b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

func decodeFrameBody(b []byte) (Frame, error) {
	d := wireDecoder{b: b}
	from := env.NodeID(d.string())
	to := env.NodeID(d.string())
	if d.err != nil {
		return Frame{}, fmt.Errorf("its addresses: %w", d.err)
	}
	m, err := DecodeMessage(d.b)
	if err != nil {
		return Frame{}, err
	}
	return Frame{From: from, To: to, Msg: m}, nil
}
