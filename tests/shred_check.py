"""For tests/chroma_roundtrip.sh: `keep STORE FILE` saves the sealed records of collection `default`;
`open STORE FILE` prints how many of them any key the client holds now opens ("opened N of M")."""
import base64
import json
import sys

from rag.errors import IntegrityError
from rag.settings import Settings
from rag.store.chroma import state_dir_for
from rag.store.keyring import open_keyring
from rag.store.manifest import Manifest
from rag.store.records import unseal
from rag.store.vault import open_collections

command, store, kept = sys.argv[1:4]
settings = Settings.from_env(store=store)
state = state_dir_for(settings)
keyring = open_keyring(settings, state, create=False)
if command == "keep":
    chroma_name = keyring.collection("default").chroma_name
    records = {i: s for i, s, _, _ in open_collections(settings, keyring).scan()}
    json.dump({"collection": chroma_name, "records": records}, open(kept, "w"))
    sys.exit(0)
saved = json.load(open(kept))
keys = [keyring.index_key]
for collection in keyring.collections.values():
    keys += [collection.index_key, *collection.data_keys.values()]
    keys += [base64.b64decode(k) for e in Manifest.load(state, collection).entries.values()
             for k in (e.document_key, e.retiring_key) if k]
opened = 0
for record_id, blob in saved["records"].items():
    try:
        unseal(lambda *_: keys, saved["collection"], record_id, blob)
        opened += 1
    except IntegrityError:
        pass
print(f"opened {opened} of {len(saved['records'])}")
