// Command franzgosec runs one franz-go (kgo) client session for the
// security tests (tests/compat/test_security_clients_jvm_go.py): it
// produces n records to partition 0 of a topic over TLS and/or SASL and
// reads them back, then prints one JSON line: produced, consumed (the
// values read) and errors (the class of each error the client reported,
// in order, each once). Its argument is one JSON object:
//
//	{"bootstrap": "127.0.0.1:P", "topic": "t", "n": 3,
//	 "tls": true, "ca": "ca.pem", "cert": "c.pem", "key": "c.key",
//	 "mechanism": "SCRAM-SHA-256", "user": "u", "password": "p",
//	 "token": "JWT"}
//
// An error's class is what a program can test for, not its text: a
// broker error code's name (kerr), "x509-unknown-authority" for a server
// certificate the client does not trust, "tls-alert" for a handshake the
// broker refused, "tls-alert-record" for a plaintext request answered with
// a TLS alert, "closed" for a connection the broker closed.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

type request struct {
	Bootstrap string `json:"bootstrap"`
	Topic     string `json:"topic"`
	N         int    `json:"n"`
	TLS       bool   `json:"tls"`
	CA        string `json:"ca"`
	Cert      string `json:"cert"`
	Key       string `json:"key"`
	Mechanism string `json:"mechanism"`
	User      string `json:"user"`
	Password  string `json:"password"`
	Token     string `json:"token"`
}

var errs = []string{}

func note(err error) {
	c := class(err)
	for _, e := range errs {
		if e == c {
			return
		}
	}
	errs = append(errs, c)
}

func class(err error) string {
	var ke *kerr.Error
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case errors.As(err, &ke):
		return ke.Message
	case errors.As(err, &ua), errors.As(err, &cv):
		return "x509-unknown-authority"
	case errors.As(err, &alert), strings.Contains(err.Error(), "remote error: tls"):
		return "tls-alert"
	case strings.Contains(err.Error(), "appear to be a tls alert record"):
		// franz-go's own diagnosis of a plaintext client answered with
		// a TLS alert record.
		return "tls-alert-record"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return fmt.Sprintf("other: %T: %v", err, err)
}

func main() {
	var r request
	if len(os.Args) != 2 || json.Unmarshal([]byte(os.Args[1]), &r) != nil {
		fmt.Fprintln(os.Stderr, "usage: franzgosec JSON")
		os.Exit(2)
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(r.Bootstrap),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			r.Topic: {0: kgo.NewOffset().AtStart()}}),
		// A refused connection is final: do not retry it for minutes.
		kgo.RequestRetries(0),
		kgo.RetryTimeout(5 * time.Second),
	}
	if r.TLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()}
		pem, err := os.ReadFile(r.CA)
		if err != nil || !cfg.RootCAs.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "bad CA file", r.CA, err)
			os.Exit(2)
		}
		if r.Cert != "" {
			c, err := tls.LoadX509KeyPair(r.Cert, r.Key)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	switch r.Mechanism {
	case "":
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: r.User, Pass: r.Password}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: r.User, Pass: r.Password}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: r.User, Pass: r.Password}.AsSha512Mechanism()))
	case "OAUTHBEARER":
		opts = append(opts, kgo.SASL(oauth.Auth{Token: r.Token}.AsMechanism()))
	default:
		fmt.Fprintln(os.Stderr, "unknown mechanism", r.Mechanism)
		os.Exit(2)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer cl.Close()
	produced := 0
	consumed := []string{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Ping: ApiVersions on a connection that is dialled, TLS-handshaken and
	// SASL-authenticated first, without retries, so a refusal comes back
	// as the error it is (produce would retry it until its deadline).
	if err := cl.Ping(ctx); err != nil {
		note(err)
	}
	for i := 0; i < r.N && len(errs) == 0; i++ {
		rec := &kgo.Record{Topic: r.Topic, Partition: 0, Value: []byte(fmt.Sprintf("v%d", i))}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			note(err)
			break
		}
		produced++
	}
	for produced == r.N && len(consumed) < r.N && len(errs) == 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			note(ctx.Err())
			break
		}
		fs.EachError(func(_ string, _ int32, err error) { note(err) })
		fs.EachRecord(func(rec *kgo.Record) { consumed = append(consumed, string(rec.Value)) })
	}
	out, _ := json.Marshal(map[string]any{
		"produced": produced, "consumed": consumed, "errors": errs})
	fmt.Println(string(out))
}
