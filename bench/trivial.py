"""A trivial Flask app served the same way as the mall, as the yardstick for bench/catalog.py."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "ok"
