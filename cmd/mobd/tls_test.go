package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost
// and its key to dir, and returns the certificate and the two file names.
func selfSigned(t *testing.T, dir string) (cert *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mobd test", Organization: []string{"mobd tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own root: clients trust it directly
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, certFile, keyFile
}

// TestServeTLS serves the API with --tls-cert/--tls-key (a self-signed
// certificate made here) and talks HTTPS to it: a client that trusts the
// certificate gets answers over HTTP/2, one that does not is refused by its
// own verification, plain HTTP gets a 400, and the CLI works end to end
// with --cacert, including a run followed live over SSE.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, certFile, keyFile := selfSigned(t, dir)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true,
	}}
	defer trusting.CloseIdleConnections()
	addr := freePort(t)
	base := "https://" + addr
	d := startMobdProbe(t, base, trusting, addr, filepath.Join(dir, "state"), "--tls-cert", certFile, "--tls-key", keyFile)

	// A client that trusts the certificate: authenticated API over TLS.
	req, _ := http.NewRequest("GET", base+"/v1/mobs", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := trusting.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("GET /v1/mobs over TLS: %d %s", resp.StatusCode, body)
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || !resp.TLS.PeerCertificates[0].Equal(cert) {
		t.Fatal("the daemon did not present the configured certificate")
	}
	if resp.TLS.Version < tls.VersionTLS12 || resp.ProtoMajor != 2 {
		t.Fatalf("TLS version %x, protocol %s: want TLS 1.2+ and HTTP/2", resp.TLS.Version, resp.Proto)
	}

	// A client that does not trust it refuses the connection itself.
	_, err = http.Get(base + "/healthz")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("an untrusting client got %v, want an unknown authority error", err)
	}
	// Plain HTTP to the TLS port is answered 400 by the TLS server.
	resp, err = http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP to the TLS port: %d, want 400", resp.StatusCode)
	}

	// The CLI over HTTPS: it needs --cacert for this certificate.
	cmd := exec.Command(mobdBin, "mobs", "--addr", base)
	cmd.Env = cleanEnv("MOBD_TOKEN=" + e2eToken)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "certificate") {
		t.Fatalf("CLI without --cacert: %v\n%s", err, out)
	}
	defFile := filepath.Join(dir, "demo.toml")
	if err := os.WriteFile(defFile, []byte(e2eDef), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsCLI := func(args ...string) string { return cli(t, base, append(args, "--cacert", certFile)...) }
	if out := tlsCLI("apply", "-f", defFile); !strings.Contains(out, "mob demo created") {
		t.Fatalf("apply over TLS: %s", out)
	}
	tlsCLI("spawn", "demo", "lead")
	tlsCLI("spawn", "demo", "analyst")
	out := tlsCLI("run", "demo", "brief", "--params", `{"country":"Spain"}`, "--follow")
	for _, want := range []string{"▶ run", "→ dig dispatched to analyst", "■ run completed", "The capital of Spain is Madrid."} {
		if !strings.Contains(out, want) {
			t.Fatalf("run --follow over TLS lacks %q:\n%s", want, out)
		}
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop on SIGTERM")
	}
	if logs := d.logs.String(); !strings.Contains(logs, "mobd serving "+base) {
		t.Fatalf("the daemon did not announce its https URL:\n%s", logs)
	}
}
