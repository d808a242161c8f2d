// tlscheck: connect to a TLS server as a Go webhook sender does (crypto/tls defaults:
// TLS >= 1.2, crypto/x509 path building without AIA fetching, no client certificate),
// verify the chain against the given PEM roots and host name, then wait briefly for
// what the server sends after the handshake (a TLS 1.3 server's certificate_required
// alert arrives then). Prints "OK <version> <cipher suite>" or "FAIL <error>".
//
// Usage: tlscheck ADDRESS SERVER_NAME ROOTS_PEM
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: tlscheck ADDRESS SERVER_NAME ROOTS_PEM")
		os.Exit(2)
	}
	address, serverName, rootsFile := os.Args[1], os.Args[2], os.Args[3]
	pem, err := os.ReadFile(rootsFile)
	if err != nil {
		fmt.Println("FAIL", err)
		os.Exit(2)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fmt.Println("FAIL no certificate in", rootsFile)
		os.Exit(2)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", address, &tls.Config{
		ServerName: serverName,
		RootCAs:    roots,
	})
	if err != nil {
		fmt.Println("FAIL", err)
		os.Exit(1)
	}
	defer conn.Close()
	state := conn.ConnectionState()
	_ = conn.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	buffer := make([]byte, 1)
	if _, err := conn.Read(buffer); err != nil {
		var netErr net.Error
		if !(errors.As(err, &netErr) && netErr.Timeout()) {
			fmt.Println("FAIL after the handshake:", err)
			os.Exit(1)
		}
	}
	fmt.Println("OK", tls.VersionName(state.Version), tls.CipherSuiteName(state.CipherSuite))
}
