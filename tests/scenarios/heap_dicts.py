"""Two classes alike in all but name, 1,000 instances of each, with the
same two attribute values (None and True, shared objects). Every `Shown`
instance has been asked for its __dict__; no `Hidden` one has.

Since 3.11 an instance keeps its attribute values beside the class's shared
keys until someone asks for __dict__; the dict then made holds the same
values. So a Shown instance and its dict must weigh what a Hidden instance
weighs, plus the dict object itself: nothing counted twice, nothing lost."""

N = 1000


class Hidden:
    def __init__(self):
        self.a = None
        self.b = True


class Shown:
    def __init__(self):
        self.a = None
        self.b = True


HIDDEN = [Hidden() for _ in range(N)]
SHOWN = [Shown() for _ in range(N)]
for shown in SHOWN:
    assert shown.__dict__ == {"a": None, "b": True}
