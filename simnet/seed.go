package simnet

import (
	"crypto/rand" //detlint:allow cryptorand etcd raft draws election jitter from crypto/rand.Reader; the world replaces it with a seeded stream
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	mrand "math/rand/v2"
	"sync/atomic" //detlint:allow sync the one-world guard must hold across goroutines: a second world in the same process would share crypto/rand.Reader
)

// derive returns a seed for one named stream of a run. Every stream (a
// node's, a link's, the world's) is derived from the root seed and its own
// name alone, so adding a node or a link leaves every other stream as it
// was.
func derive(seed uint64, parts ...string) [32]byte {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	for _, p := range parts {
		binary.LittleEndian.PutUint64(b[:], uint64(len(p)))
		h.Write(b[:])
		h.Write([]byte(p))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// NewRand returns a PCG generator for one named stream of a run, derived
// from the seed and the names alone. The live harness draws its links'
// streams the same way.
func NewRand(seed uint64, parts ...string) *mrand.Rand {
	s := derive(seed, parts...)
	return mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(s[:8]), binary.LittleEndian.Uint64(s[8:16])))
}

// worldOpen is set while a World exists. Only one may: crypto/rand.Reader
// is process-wide, and two worlds drawing from it would perturb each other.
var worldOpen atomic.Bool

// ErrWorldOpen is returned by New while another World is open in this
// process.
var ErrWorldOpen = errors.New("simnet: another World is open in this process; Close it first (crypto/rand.Reader is shared, so two worlds would not replay)")

// seizeCryptoRand installs the run's seeded stream as crypto/rand.Reader and
// returns a function that restores the previous reader.
func seizeCryptoRand(seed uint64) (restore func(), err error) {
	if !worldOpen.CompareAndSwap(false, true) {
		return nil, ErrWorldOpen
	}
	prev := rand.Reader                                               //detlint:allow cryptorand saved to be restored when the world closes
	rand.Reader = io.Reader(mrand.NewChaCha8(derive(seed, "crypto"))) //detlint:allow cryptorand the seeded stream replaces the OS source for the life of the world
	return func() {
		rand.Reader = prev //detlint:allow cryptorand restores the OS source
		worldOpen.Store(false)
	}, nil
}
