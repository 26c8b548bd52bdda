module example.com/docker-registry-v1/smoke

go 1.23

require (
	example.com/docker-registry-v1/goclient v0.0.0
	example.com/docker-registry-v1/ociclient v0.0.0
)

require gopkg.in/validator.v2 v2.0.1 // indirect

replace example.com/docker-registry-v1/goclient => ../../build/clients/go

replace example.com/docker-registry-v1/ociclient => ../../build/clients/go-oci
