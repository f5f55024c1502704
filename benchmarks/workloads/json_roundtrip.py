"""json.dumps / json.loads round trips of a medium nested document.

Exercises the C-accelerated json encoder/decoder: large string buffers
(realloc growth while encoding), many small str/int/float/dict/list objects
created by the decoder, all allocated from C code rather than bytecode, with
a shallow Python call stack.
"""

import json

ROUNDS = 85


def make_document():
    users = []
    for i in range(600):
        users.append(
            {
                "id": i,
                "name": "user-%05d" % i,
                "email": "user%d@example.com" % i,
                "active": i % 3 != 0,
                "score": i * 1.25,
                "tags": ["t%d" % (i % 7), "g%d" % (i % 11), "x"],
                "address": {
                    "street": "%d Main St" % i,
                    "city": "City%d" % (i % 50),
                    "zip": "%05d" % (i * 7 % 100000),
                },
                "history": [{"ts": i * 1000 + j, "v": j * 0.5} for j in range(8)],
            }
        )
    return {"version": 3, "users": users, "meta": {"count": len(users)}}


def main():
    doc = make_document()
    size = 0
    for _ in range(ROUNDS):
        text = json.dumps(doc)
        doc = json.loads(text)
        size += len(text)
    assert size > 0 and doc["meta"]["count"] == 600


if __name__ == "__main__":
    main()
