FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY envoice_mock ./envoice_mock
COPY fixtures ./fixtures
COPY scenarios ./scenarios
RUN pip install --no-cache-dir -e .
# Share links and webhook Links must name an address the host can reach, not 0.0.0.0.
ENV ENVOICE_MOCK_HOST=0.0.0.0 \
    ENVOICE_MOCK_PORT=8080 \
    ENVOICE_MOCK_PUBLIC_URL=http://localhost:8080
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/_mock/health')"
CMD ["envoice-mock", "serve"]
