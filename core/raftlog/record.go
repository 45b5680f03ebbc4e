package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	pb "go.etcd.io/raft/v3/raftpb"
)

// A record is one change to one group's log, framed in a WAL segment as
//
//	length uint32 (of the payload) | crc32c uint32 (of the payload) | payload
//
// with the payload
//
//	kind byte | group uvarint | body
//
// and the body by kind:
//
//	kindEntries      count uvarint, then count × (size uvarint, raftpb.Entry)
//	kindHardState    raftpb.HardState
//	kindInstall      size uvarint, raftpb.SnapshotMetadata, then the snapshot's data
//	kindCompact      size uvarint, raftpb.SnapshotMetadata, then the snapshot's data
//
// Replaying the records of a group in order rebuilds its log: entries are
// appended at their first index, replacing any entries from there on;
// kindInstall replaces the whole log with a snapshot received from a
// leader; kindCompact records a snapshot taken locally and drops the
// entries it covers.
type kind byte

const (
	kindEntries kind = iota + 1
	kindHardState
	kindInstall
	kindCompact
)

// frameHeader is the size of a record's length and checksum.
const frameHeader = 8

// maxRecord bounds a record's payload; a longer length in a segment means
// the segment is damaged, not that a huge record follows.
const maxRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Batch collects the records of one commit.
type Batch struct {
	buf     []byte
	records int
}

// Empty reports whether the batch holds no record.
func (b *Batch) Empty() bool { return b.records == 0 }

// Len is the batch's size in bytes.
func (b *Batch) Len() int { return len(b.buf) }

// Reset empties the batch for reuse.
func (b *Batch) Reset() { b.buf, b.records = b.buf[:0], 0 }

// begin starts a record and returns where its frame starts.
func (b *Batch) begin(k kind, group uint64) int {
	start := len(b.buf)
	b.buf = append(b.buf, make([]byte, frameHeader)...)
	b.buf = append(b.buf, byte(k))
	b.buf = binary.AppendUvarint(b.buf, group)
	return start
}

// end fills in the frame of the record started at start.
func (b *Batch) end(start int) {
	payload := b.buf[start+frameHeader:]
	binary.LittleEndian.PutUint32(b.buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b.buf[start+4:], crc32.Checksum(payload, castagnoli))
	b.records++
}

// marshaler is the gogoproto interface of raftpb's types.
type marshaler interface {
	Size() int
	MarshalTo([]byte) (int, error)
}

// appendMsg appends m's encoding, preceded by its size if sized.
func (b *Batch) appendMsg(m marshaler, sized bool) {
	n := m.Size()
	if sized {
		b.buf = binary.AppendUvarint(b.buf, uint64(n))
	}
	at := len(b.buf)
	b.buf = append(b.buf, make([]byte, n)...)
	if _, err := m.MarshalTo(b.buf[at:]); err != nil {
		panic(fmt.Sprintf("raftlog: encoding a %T: %v", m, err))
	}
}

func (b *Batch) entries(group uint64, ents []pb.Entry) {
	start := b.begin(kindEntries, group)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(ents)))
	for i := range ents {
		b.appendMsg(&ents[i], true)
	}
	b.end(start)
}

func (b *Batch) hardState(group uint64, hs *pb.HardState) {
	start := b.begin(kindHardState, group)
	b.appendMsg(hs, false)
	b.end(start)
}

func (b *Batch) snapshot(k kind, group uint64, snap *pb.Snapshot) {
	start := b.begin(k, group)
	b.appendMsg(&snap.Metadata, true)
	b.buf = append(b.buf, snap.Data...)
	b.end(start)
}

// record is a decoded record.
type record struct {
	kind  kind
	group uint64
	ents  []pb.Entry
	hs    pb.HardState
	snap  pb.Snapshot
}

// errTorn marks the end of the readable part of a segment: a frame cut
// short or failing its checksum, as a crash in the middle of a write
// leaves it.
var errTorn = errors.New("torn or damaged record")

// nextRecord decodes the record at the start of b and returns it with the
// number of bytes it took. It never panics on bad input: a short or
// damaged frame is errTorn, a well-framed payload that does not decode is
// another error.
func nextRecord(b []byte) (record, int, error) {
	var r record
	if len(b) < frameHeader {
		return r, 0, errTorn
	}
	size := binary.LittleEndian.Uint32(b)
	sum := binary.LittleEndian.Uint32(b[4:])
	if size > maxRecord || uint64(len(b)-frameHeader) < uint64(size) {
		return r, 0, errTorn
	}
	payload := b[frameHeader : frameHeader+int(size)]
	if crc32.Checksum(payload, castagnoli) != sum {
		return r, 0, errTorn
	}
	n := frameHeader + int(size)
	if len(payload) < 1 {
		return r, n, errors.New("empty record")
	}
	r.kind = kind(payload[0])
	group, k := binary.Uvarint(payload[1:])
	if k <= 0 {
		return r, n, errors.New("bad group number")
	}
	r.group = group
	body := payload[1+k:]
	var err error
	switch r.kind {
	case kindEntries:
		r.ents, err = decodeEntries(body)
	case kindHardState:
		err = r.hs.Unmarshal(body)
	case kindInstall, kindCompact:
		var meta []byte
		meta, body, err = sized(body)
		if err == nil {
			err = r.snap.Metadata.Unmarshal(meta)
		}
		if len(body) > 0 {
			r.snap.Data = append([]byte(nil), body...)
		}
	default:
		err = fmt.Errorf("unknown record kind %d", r.kind)
	}
	if err != nil {
		return r, n, fmt.Errorf("group %d: %w", group, err)
	}
	return r, n, nil
}

func decodeEntries(body []byte) ([]pb.Entry, error) {
	count, k := binary.Uvarint(body)
	if k <= 0 || count > uint64(len(body)) {
		return nil, errors.New("bad entry count")
	}
	body = body[k:]
	ents := make([]pb.Entry, count)
	for i := range ents {
		var b []byte
		var err error
		b, body, err = sized(body)
		if err != nil {
			return nil, err
		}
		if err := ents[i].Unmarshal(b); err != nil {
			return nil, err
		}
		if i > 0 && ents[i].Index != ents[i-1].Index+1 {
			return nil, fmt.Errorf("entry %d follows entry %d", ents[i].Index, ents[i-1].Index)
		}
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("%d stray bytes after the entries", len(body))
	}
	return ents, nil
}

// sized splits a uvarint-sized field off the front of b.
func sized(b []byte) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errors.New("bad field size")
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}
