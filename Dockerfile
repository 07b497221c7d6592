FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DESKLINE_HOST=0.0.0.0 DESKLINE_PORT=8000 DESKLINE_DATA_DIR=/app/data

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN useradd --system --uid 10001 --home /app deskline \
    && mkdir -p /app/data && chown -R deskline /app/data
USER deskline

EXPOSE 8000
VOLUME ["/app/data"]
# /ready answers 200 only when storage and Redis (if configured) answer; /health is liveness only.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2).status == 200 else 1)"

CMD ["python", "server.py"]
