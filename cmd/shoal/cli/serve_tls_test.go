package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePKI writes a test CA and, for each name, a certificate it signed
// for 127.0.0.1, as PEM files in dir: ca.pem, NAME.pem, NAME-key.pem.
func writePKI(t *testing.T, dir string, names ...string) {
	t.Helper()
	write := func(file, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shoal test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write("ca.pem", "CERTIFICATE", caDER)
	for i, name := range names {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		leaf := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: name},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", "CERTIFICATE", der)
		write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
}

// TestServeMutualTLS forms a three-instance cluster whose peers speak
// mutual TLS, and writes and reads through every instance.
func TestServeMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	pki := t.TempDir()
	writePKI(t, pki, "n1", "n2", "n3")
	cluster := newCluster(t, 3, func(i int) []string {
		name := fmt.Sprintf("n%d", i+1)
		return []string{"--tls-cert", filepath.Join(pki, name+".pem"), "--tls-key", filepath.Join(pki, name+"-key.pem"),
			"--tls-ca", filepath.Join(pki, "ca.pem"), "--tls-client-auth"}
	})
	for _, in := range cluster {
		in.start(t)
	}
	for i, in := range cluster {
		key := fmt.Sprintf("tls-%d", i)
		serveEventually(t, 30*time.Second, "a write through "+in.name, func() error {
			a, err := servePut(in, key, in.name)
			if err == nil && a.status != 200 {
				err = fmt.Errorf("%d %s", a.status, a.Error)
			}
			return err
		})
		for _, other := range cluster {
			a, err := serveGet(other, key)
			if err != nil || a.status != 200 || a.Value == nil || *a.Value != in.name {
				t.Errorf("GET %s via %s: %v %+v", key, other.name, err, a)
			}
		}
	}
	// The peer port refuses a plain connection.
	conn, err := net.Dial("tcp", cluster[0].peer)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("shl\x01\x00\x00\x00\x10hello, no TLS...."))
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	conn.Close()
	if strings.Contains(string(buf[:n]), "shl") {
		t.Errorf("the TLS peer port answered a plain connection with a frame: %q", buf[:n])
	}
}
