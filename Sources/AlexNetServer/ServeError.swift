import AlexNet
import HTTPTypes
import Hummingbird
import NIOCore

/// Every answer that is not a result: a status, a message, and any headers it needs, sent as
/// `{"error": "..."}` (the shape TorchServe's and KServe's clients expect).
struct ServeError: HTTPResponseError, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    var description: String { "\(status.code) \(message)" }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "{\"error\": \(JSONText.string(message))}\n")))
    }

    /// The answer for an error thrown while serving `request`: bad input is the client's (4xx),
    /// a full queue asks it to come back (503 with Retry-After), anything else is ours (500).
    static func from(_ error: any Error, limits: ServerConfiguration) -> ServeError {
        switch error {
        case let error as ServeError:
            return error
        case let refusal as DynamicBatcher.Refusal:
            switch refusal {
            case .full: return ServeError(.serviceUnavailable, refusal.description, headers: [.retryAfter: "1"])
            case .closed: return ServeError(.serviceUnavailable, refusal.description, headers: [.retryAfter: "5"])
            case .tooMany: return ServeError(.contentTooLarge, refusal.description)
            }
        case is NIOTooManyBytesError:
            return ServeError(.contentTooLarge, "the request body is larger than the server's \(limits.maxUploadMegabytes) MiB limit (--max-upload-mb)")
        case let error as HTTPError:
            return ServeError(error.status, error.body ?? error.status.reasonPhrase)
        case let error as FileError:
            return ServeError(.badRequest, error.description)
        case let error as PlanError:
            return ServeError(.badRequest, error.description)
        case let error as DecodingError:
            return ServeError(.badRequest, "the JSON body does not fit: \(JSONText.describe(error))")
        default:
            return ServeError(.internalServerError, "\(error)")
        }
    }
}

extension HTTPField.Name {
    /// Where the server spent a request's time (W3C Server Timing).
    static let serverTiming = HTTPField.Name("Server-Timing")!
}

/// Turns whatever a route throws into a `ServeError` answer, so every error has the same shape.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let limits: ServerConfiguration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            let message = "no route for \(request.method) \(request.uri.path): the routes are GET /, POST /predictions/{name}, GET /ping, "
                + "GET /v2/health/live, GET /v2/health/ready, GET /v2/models/{name}, GET /v2/models/{name}/ready, POST /v2/models/{name}/infer, GET /metrics"
            return try ServeError(.notFound, message).response(from: request, context: context)
        } catch {
            let answer = ServeError.from(error, limits: limits)
            if answer.status.code >= 500 && answer.status != .serviceUnavailable {
                context.logger.error("\(request.method) \(request.uri.path): \(answer.message)")
            }
            return try answer.response(from: request, context: context)
        }
    }
}

/// Hand-written JSON where the order of keys matters (TorchServe's answers, most probable
/// first) and for messages.
enum JSONText {
    /// `text` as a JSON string literal.
    static func string(_ text: String) -> String { SafeTensors.jsonString(text) }

    /// A number, or null where JSON has none (NaN, infinity).
    static func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }

    /// Where a decoding error happened, in words: `inputs[0].shape: expected an array`.
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : (text.isEmpty ? "the body" : text)
        }
        switch error {
        case let .typeMismatch(type, context): return "\(path(context.codingPath)): expected \(type)"
        case let .valueNotFound(type, context): return "\(path(context.codingPath)): missing \(type)"
        case let .keyNotFound(key, context): return "\(path(context.codingPath + [key])): missing"
        case let .dataCorrupted(context): return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
