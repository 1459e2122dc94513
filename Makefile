# The two commands of the README: `make run` and `make test`.
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: run test bench train

run:  ## install if needed, index the sample articles, start the app on 127.0.0.1:7860
	bash scripts/setup.sh
	.venv/bin/qa ingest data/sample
	.venv/bin/qa serve

test:  ## install if needed (with test tools and chromium), run the whole test suite
	bash scripts/setup.sh --test
	.venv/bin/python -m pytest

bench:  ## quality and speed figures against the LlamaIndex baseline
	bash scripts/setup.sh
	.venv/bin/python bench/realtimeqa.py

train:  ## rebuild models/reranker/ and models/query_encoder/ from ../shared/train/realtimeqa (about 45 minutes on 2 cores; CI never trains)
	bash scripts/setup.sh
	.venv/bin/pip install --quiet -c constraints.txt -e ".[train]"
	.venv/bin/python -m train
