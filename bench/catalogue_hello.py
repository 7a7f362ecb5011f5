"""The hello-world baseline of bench/catalogue.py, served by the same gunicorn configuration."""

from flask import Flask

app = Flask("hello")


@app.get("/")
def hello_world() -> str:
    return "Hallo Welt"
