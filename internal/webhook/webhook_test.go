package webhook

import "testing"

// The Standard Webhooks reference example: the same id, timestamp, body
// and secret give the same signature.
func TestSignReference(t *testing.T) {
	sig, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; sig != want {
		t.Fatalf("signature %s, want %s", sig, want)
	}
	if _, err := Sign("whsec_not base64!", "id", "1", nil); err == nil {
		t.Fatal("a bad secret signed")
	}
}
