package raft

import _ "crypto/rand" //detlint:allow cryptorand raft draws election jitter from Reader
