// kube-controller-manager, built from the Kubernetes sources at the version go.mod names: the
// real Job controller (per-index retries, podFailurePolicy) behind the `--engine kube` tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
