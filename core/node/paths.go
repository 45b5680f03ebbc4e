package node

// WALDir is the directory of the instance's Raft write-ahead log on its
// disk. The instance touches it only from its event loop, which is what
// lets the simulator fail its operations deterministically.
const WALDir = "wal"
