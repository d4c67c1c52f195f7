// kube-apiserver, built from the Kubernetes sources at the version go.mod names: the real API
// server behind the tests that need a cluster (helm upgrade --install asks it for history).
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
