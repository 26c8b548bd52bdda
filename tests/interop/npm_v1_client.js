// Drives the npm package docker-registry-client's v1 client (createClientV1) against
// one registry and prints one JSON object: for each operation {ok, value} or {ok, error}.
// Usage: node npm_v1_client.js '<json: name, tip, base, term, index, username?, password?>'
'use strict';

var crypto = require('crypto');
var bunyan = require('bunyan');
var drc = require('docker-registry-client');

var cfg = JSON.parse(process.argv[2]);
var log = bunyan.createLogger({name: 'interop', level: 'fatal'});

function client() {
    var opts = {name: cfg.name, log: log, retry: false};
    if (cfg.username) {
        opts.username = cfg.username;
        opts.password = cfg.password;
    }
    return drc.createClientV1(opts);
}

function layer(c, cb) {
    c.getImgLayerStream({imgId: cfg.base}, function (err, stream) {
        if (err) {
            return cb(err);
        }
        var hash = crypto.createHash('sha256');
        var size = 0;
        stream.on('data', function (chunk) {
            hash.update(chunk);
            size += chunk.length;
        });
        stream.on('error', cb);
        stream.on('end', function () {
            cb(null, {status: stream.statusCode, sha256: hash.digest('hex'), size: size});
        });
        stream.resume();
    });
}

var operations = {
    ping: function (c, cb) { c.ping(cb); },
    listRepoTags: function (c, cb) { c.listRepoTags(cb); },
    getImgAncestry: function (c, cb) { c.getImgAncestry({imgId: cfg.tip}, cb); },
    getImgJson: function (c, cb) { c.getImgJson({imgId: cfg.tip}, cb); },
    getImgLayerStream: layer,
    search: function (c, cb) { c.search({term: cfg.term}, cb); },
    login: function (c, cb) {
        drc.loginV1({
            index: cfg.index, username: cfg.username || 'nobody',
            password: cfg.password || 'secret', email: 'interop@example.com', log: log
        }, cb);
    }
};

var names = Object.keys(operations);
var results = {};

function next(i) {
    if (i === names.length) {
        process.stdout.write(JSON.stringify(results) + '\n');
        return;
    }
    var c = client();
    operations[names[i]](c, function (err, value) {
        c.close();
        results[names[i]] = err ? {ok: false, error: String(err.message || err)}
            : {ok: true, value: value === undefined ? null : value};
        next(i + 1);
    });
}

next(0);
