"""Start the web app: ``python app.py [--host 127.0.0.1] [--port 7860] [--store DIR | --chroma-host HOST --chroma-port PORT] [--llm openai-like --llm-base-url URL --llm-model NAME | --llm ollama --llm-model NAME]``."""

from qa.web import main

if __name__ == "__main__":
    main()
