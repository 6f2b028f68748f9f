# rvkvm developer targets. `make install && make test` is what CI runs (.ci/run).
PYTHON ?= python3
SHARED ?= ../shared

.PHONY: install test images bench linux demo clean

install:            ## install rvkvm from this checkout (builds the native slicer)
	$(PYTHON) -m pip install -e '.[test]'

test:               ## the whole test suite
	$(PYTHON) -m pytest -q

images:             ## rebuild the bare-metal test images (needs gcc-riscv64-unknown-elf)
	$(MAKE) -C images

bench:              ## all benchmarks, with ratios against raw Unicorn and QEMU
	$(PYTHON) bench/run_all.py

demo:               ## boot the hello image
	rvkvm boot images/hello.elf

linux:              ## rebuild the shared Linux kernels from Debian sources (build/linux/out)
	./scripts/build-linux.sh

clean:
	rm -rf build *.egg-info .pytest_cache
