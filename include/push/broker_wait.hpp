// await_broker: an HTTP request (a push strategy's or the publisher API's) that needs a broker
// answer, which may come before the broker call returns (the LocalBroker) or later, on this
// worker's loop (a broker with a remote store).
#pragma once

#include <cassert>
#include <memory>
#include <utility>

#include "http/session.hpp"
#include "push/broker.hpp"

namespace herald::push {

// How a request is answered once the broker answered: with the worker (Host), the session,
// what the request needs kept (Ctx) and the broker's answer (Arg, as its done receives it).
template <class Host, class Ctx, class Arg>
using BrokerAnswer = void (*)(Host&, http::HttpSession&, Ctx&, Arg);

// The suspended request's Responder while a broker call is pending. Owns the call and ctx
// (ctx first: the call is cancelled before what it points to goes), so a client that goes
// away (cancel) or a graceful stop (503, then the connection closes) drops the answer before
// it can reach a dead session. Points to the host and session, which outlive it.
template <class Host, class Ctx, class Arg>
class BrokerWait final : public http::Responder {
public:
    BrokerWait(Host& h, http::HttpSession& s, Ctx&& ctx, BrokerAnswer<Host, Ctx, Arg> answer)
        : h_(h), s_(s), ctx_(std::move(ctx)), answer_(answer) {}

    void own(BrokerCall call) noexcept { call_ = std::move(call); }
    void cancel() noexcept override { call_.reset(); }
    void on_shutdown() noexcept override {
        call_.reset();
        s_.resume([](http::HttpSession& ss) { ss.respond_error(503, true); });
    }
    // The broker's answer: the request resumes with it (this waiter is retired meanwhile and
    // destroyed after the current dispatch).
    void answered(Arg a) {
        s_.resume([this, &a](http::HttpSession& ss) {
            answer_(h_, ss, ctx_, std::forward<Arg>(a));
        });
    }

private:
    Host& h_;
    http::HttpSession& s_;
    Ctx ctx_;
    BrokerAnswer<Host, Ctx, Arg> answer_;
    BrokerCall call_;  // last: cancelled first
};

// Runs start(done), which makes one *_async call for the session's current request (it must
// not be suspended) and returns its BrokerCall, then answers with answer(h, s, ctx, result):
// - done before start returned: at once, with ctx itself; nothing is allocated (done captures
//   two pointers) and the request is not suspended, so an inline broker costs what a
//   synchronous call did;
// - else: the request is suspended, a BrokerWait takes the call and ctx (moved from), and the
//   answer resumes it later (or never: see BrokerWait).
template <class Arg, class Host, class Ctx, class Start>
void await_broker(Host& h, http::HttpSession& s, Ctx& ctx, Start&& start,
                  BrokerAnswer<Host, Ctx, Arg> answer) {
    using Wait = BrokerWait<Host, Ctx, Arg>;
    // Lives until start returns: an inline done answers through it. A later done finds its
    // waiter through the session (the one suspended below: only it can be, while the call is
    // pending, since retiring it cancels the call first or is this answer).
    struct Frame {
        Host* h;
        Ctx* ctx;
        BrokerAnswer<Host, Ctx, Arg> answer;
        bool answered;
    } f{&h, &ctx, answer, false};
    http::HttpSession* sp = &s;
    Frame* fp = &f;
    BrokerCall call = start([sp, fp](Arg a) {
        if (http::Responder* w = sp->waiter()) {
            auto* wait = dynamic_cast<Wait*>(w);
            assert(wait);
            if (wait) wait->answered(std::forward<Arg>(a));
            return;
        }
        fp->answered = true;
        fp->answer(*fp->h, *sp, *fp->ctx, std::forward<Arg>(a));
    });
    if (f.answered) return;
    assert(call);  // no answer yet: the call is pending
    auto wait = std::make_unique<Wait>(h, s, std::move(ctx), answer);
    wait->own(std::move(call));
    s.suspend(std::move(wait));
}

} // namespace herald::push
